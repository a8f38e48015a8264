import Type from 'typebox'

export const ErrorResponse = Type.Object({
  statusCode: Type.Integer(),
  code: Type.String({ description: 'stable, machine-readable error code' }),
  error: Type.String(),
  message: Type.String()
}, { $id: 'ErrorResponse', additionalProperties: false })

/** The same error shape under each status a route may answer with. */
export const errors = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((status) => [status, Type.Ref('ErrorResponse')]))
