import pg from 'pg'

/** The server every bench creates its throwaway databases on. */
export const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres'

/** One statement on the admin database (CREATE / DROP DATABASE). */
export async function admin (sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL })
  await client.connect()
  try { await client.query(sql) } finally { await client.end() }
}

/** The URL of database `name` on the admin server. */
export function withDatabase (name: string): string {
  const parsed = new URL(ADMIN_URL)
  parsed.pathname = `/${name}`
  return parsed.toString()
}
