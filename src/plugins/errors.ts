import type { FastifyError, FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { DatabaseUnavailable, NotFound, ServiceError } from '../errors.js'
import { isConnectionError } from '../db/errors.js'

export interface ErrorBody {
  statusCode: number
  code: string
  error: string
  message: string
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout'
}

function toBody (error: FastifyError): ErrorBody {
  // Only errors that carry their own HTTP status (ours, Fastify's) speak to the
  // client. Anything else (a Prisma or driver error with its own `code` and a
  // message quoting SQL) is an internal error: details stay in the log.
  const known = error.statusCode !== undefined && error.statusCode >= 400
  const statusCode = known ? error.statusCode! : 500
  return {
    statusCode,
    code: known ? (error.code ?? 'ERROR') : 'INTERNAL_ERROR',
    error: STATUS_TEXT[statusCode] ?? 'Error',
    message: known ? error.message : 'internal error'
  }
}

/** What the client is told for an error: the error itself when it speaks to clients, else 503 or 500. */
const answerFor = (raw: FastifyError): FastifyError => isConnectionError(raw) ? new DatabaseUnavailable() : raw

/** The machine-readable code the client gets for this error (for the audit trail and metrics). */
export const clientCode = (raw: FastifyError): string => toBody(answerFor(raw)).code

export default fp(async function errors (app: FastifyInstance) {
  app.setErrorHandler((raw: FastifyError, request, reply) => {
    const error = answerFor(raw)
    const body = toBody(error)
    const ours = error instanceof ServiceError ? error : undefined
    // `detail`: what an error may tell the log but never the client (e.g. why each key failed to decrypt).
    if (body.statusCode >= 500) request.log.error({ err: raw }, 'request failed')
    else request.log.info({ errorCode: body.code, ...(ours?.detail !== undefined ? { detail: ours.detail } : {}) }, 'request rejected')
    if (ours?.headers !== undefined) reply.headers(ours.headers)
    return reply.code(body.statusCode).send(body)
  })
  app.setNotFoundHandler((request, reply) => {
    const error = new NotFound(`${request.method} ${request.url.split('?')[0]}`)
    return reply.code(404).send(toBody(error))
  })
}, { name: 'errors' })
