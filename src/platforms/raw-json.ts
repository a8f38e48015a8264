// The members of a JSON object as the raw text each value has in the body,
// byte for byte, for signatures computed over that text (Alipay, PLATFORMS.md
// D10). A validating scanner: it builds no values, so nothing in the body is
// believed before the part that matters has been verified and parsed alone.

// Control characters must be escaped inside a JSON string.
// eslint-disable-next-line no-control-regex
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y
const LITERAL = /true|false|null/y
const SPACE = /[ \t\n\r]*/y

/** Nesting beyond this is refused: a scanner recursing on `[[[[...` must not overflow the stack. */
const MAX_DEPTH = 64

function match (pattern: RegExp, text: string, at: number): number {
  pattern.lastIndex = at
  return pattern.test(text) ? pattern.lastIndex : -1
}

const skipSpace = (text: string, at: number): number => match(SPACE, text, at)

/** Where the value starting at `at` ends, or -1 if it is not valid JSON. */
function scanValue (text: string, at: number, depth: number): number {
  const first = text[at]
  if (first === '"') return match(STRING, text, at)
  if (first === '{' || first === '[') {
    if (depth >= MAX_DEPTH) return -1
    const close = first === '{' ? '}' : ']'
    let i = skipSpace(text, at + 1)
    if (text[i] === close) return i + 1
    for (;;) {
      if (first === '{') {
        i = match(STRING, text, i)
        if (i < 0) return -1
        i = skipSpace(text, i)
        if (text[i] !== ':') return -1
        i = skipSpace(text, i + 1)
      }
      i = scanValue(text, i, depth + 1)
      if (i < 0) return -1
      i = skipSpace(text, i)
      if (text[i] === close) return i + 1
      if (text[i] !== ',') return -1
      i = skipSpace(text, i + 1)
    }
  }
  const end = match(NUMBER, text, at)
  return end >= 0 ? end : match(LITERAL, text, at)
}

/**
 * The top-level members of a JSON object: name (escapes decoded) to the raw
 * text of its value. Undefined when the text is not one JSON object, or names
 * a member twice (JSON.parse would keep the last; a signature covers one).
 */
export function topLevelMembers (text: string): Map<string, string> | undefined {
  const members = new Map<string, string>()
  let i = skipSpace(text, 0)
  if (text[i] !== '{') return undefined
  i = skipSpace(text, i + 1)
  if (text[i] === '}') return skipSpace(text, i + 1) === text.length ? members : undefined
  for (;;) {
    const nameEnd = match(STRING, text, i)
    if (nameEnd < 0) return undefined
    const name = JSON.parse(text.slice(i, nameEnd)) as string
    i = skipSpace(text, nameEnd)
    if (text[i] !== ':') return undefined
    const start = skipSpace(text, i + 1)
    const end = scanValue(text, start, 1)
    if (end < 0 || members.has(name)) return undefined
    members.set(name, text.slice(start, end))
    i = skipSpace(text, end)
    if (text[i] === '}') return skipSpace(text, i + 1) === text.length ? members : undefined
    if (text[i] !== ',') return undefined
    i = skipSpace(text, i + 1)
  }
}
