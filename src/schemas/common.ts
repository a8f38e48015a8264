import Type, { type Static, type TSchema } from 'typebox'

export const ErrorResponse = Type.Object({
  statusCode: Type.Integer(),
  code: Type.String({ description: 'stable, machine-readable error code' }),
  error: Type.String(),
  message: Type.String()
}, { $id: 'ErrorResponse', additionalProperties: false })

/** The same error shape under each status a route may answer with. */
export const errors = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((status) => [status, Type.Ref('ErrorResponse')]))

/**
 * A value or null, as `type: [T, 'null']`. TypeBox's Union would be an anyOf,
 * which Fastify's serializer resolves by running a validator on each value of
 * each response (a tenth of /v1/me's CPU); a type list is one typeof check.
 */
export const Nullable = <T extends TSchema & { type: string }>(schema: T) =>
  Type.Unsafe<Static<T> | null>({ ...schema, type: [schema.type, 'null'] })

type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false

/**
 * Compiles only when a schema's type is exactly the domain's type, so the HTTP
 * contract cannot drift from what the services return: `sameType<Static<typeof Profile>, ProfileView>()`.
 */
export function sameType<Schema, Domain> (..._proof: Same<Schema, Domain> extends true ? [] : [schema: Schema, differs: Domain]): void {}
