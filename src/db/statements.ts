import type pg from 'pg'

// The statements on the request path of login, refresh, /v1/me and the user
// data routes run as named prepared statements on the pool beneath Prisma's
// adapter: Postgres plans each once per connection, and the driver skips
// Prisma's query compiler. Measured per query (warm, 16 concurrent): Prisma
// $queryRaw about 150-190 µs of client CPU, a pg named statement 35-40 µs
// (docs/performance.md). Everything else uses Prisma Client's model API.
//
// Each statement declares its result columns; test/db/statements.test.ts runs
// every statement against a real database and checks the names and types
// Postgres answers with against the declaration.

export type ColumnKind = 'string' | 'number' | 'boolean' | 'date' | 'bytes'
/** A column's kind; `?` when it may be NULL. */
export type Column = ColumnKind | `${ColumnKind}?`

interface KindTypes { string: string, number: number, boolean: boolean, date: Date, bytes: Buffer }
type ValueOf<C extends Column> = C extends `${infer K extends ColumnKind}?` ? KindTypes[K] | null : C extends ColumnKind ? KindTypes[C] : never
export type RowOf<Columns extends Record<string, Column>> = { [Name in keyof Columns]: ValueOf<Columns[Name]> }

export interface Statement<Row> {
  /** The prepared statement's name on every connection: unique. */
  readonly name: string
  readonly text: string
  readonly columns: Record<string, Column>
  /** Only in the type: what a row looks like. */
  readonly _row?: Row
}

/** Every statement declared, for the test that checks them against the database. */
export const STATEMENTS: Statement<unknown>[] = []

export function statement<Columns extends Record<string, Column>> (
  name: string, columns: Columns, text: string
): Statement<RowOf<Columns>> {
  if (STATEMENTS.some((s) => s.name === name)) throw new Error(`statement ${name} declared twice`)
  const declared: Statement<RowOf<Columns>> = { name, text, columns }
  STATEMENTS.push(declared as Statement<unknown>)
  return declared
}

export async function runStatement<Row> (
  pool: pg.Pool | pg.PoolClient, statement: Statement<Row>, values: unknown[], named = true
): Promise<Row[]> {
  const result = await pool.query(named ? { name: statement.name, text: statement.text, values } : { text: statement.text, values })
  return result.rows as Row[]
}
