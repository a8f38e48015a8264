// A platform's own error code, kept on a PlatformRefusal for the log. It comes
// from the platform's body, so it is bounded here: a lying platform must not
// write arbitrary text (or a secret echoed back) into the log or mint labels.

const LABEL = /^[A-Za-z0-9_.-]{1,64}$/

export function upstreamLabel (value: unknown): string {
  const text = typeof value === 'number' ? String(value) : value
  return typeof text === 'string' && LABEL.test(text) ? text : 'unrecognised'
}
