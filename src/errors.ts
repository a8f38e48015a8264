import createError from '@fastify/error'

// One error per failure a client can act on; `code` is the stable contract.
export const DatabaseUnavailable = createError('DATABASE_UNAVAILABLE', 'the database is unreachable; try again shortly', 503)
export const NotFound = createError('NOT_FOUND', 'route %s not found', 404)
