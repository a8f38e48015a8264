import { readFile } from 'node:fs/promises'
import { get_dmmf as getDmmf } from '@prisma/prisma-schema-wasm'
import pg from 'pg'
import t from 'tap'
import { PLATFORMS, SUBJECT_KINDS } from '../../src/platforms/adapter.js'
import { testDatabase } from '../helper.js'

// The migrations are applied to an empty database and what they built is
// compared with what schema.prisma declares (parsed by Prisma's own schema
// engine, compiled to WASM): tables, columns, types, nullability, defaults,
// keys, indexes and foreign keys (and the CHECKs listed below). Either side
// changing alone fails here.

interface DmmfField {
  name: string
  dbName?: string | null
  kind: string
  type: string
  isRequired: boolean
  hasDefaultValue: boolean
  default?: { name?: string }
  nativeType?: [string, string[]] | null
  relationFromFields?: string[]
  relationToFields?: string[]
  relationOnDelete?: string
}
interface DmmfModel { name: string, dbName: string | null, fields: DmmfField[] }
interface DmmfIndex { model: string, type: 'id' | 'unique' | 'normal', fields: { name: string }[] }

const SCALAR_TYPES: Record<string, string> = {
  String: 'text', Int: 'int4', BigInt: 'int8', Boolean: 'bool', DateTime: 'timestamp(3)', Bytes: 'bytea', Float: 'float8', Json: 'jsonb'
}
const NATIVE_TYPES: Record<string, (args: string[]) => string> = {
  VarChar: (a) => `varchar(${a[0]})`,
  Char: (a) => `bpchar(${a[0]})`,
  Text: () => 'text',
  Uuid: () => 'uuid',
  SmallInt: () => 'int2',
  Integer: () => 'int4',
  BigInt: () => 'int8',
  Timestamptz: (a) => `timestamptz(${a[0] ?? 6})`,
  Timestamp: (a) => `timestamp(${a[0] ?? 6})`
}
// Defaults Prisma computes in the client, not in the database.
const CLIENT_DEFAULTS = new Set(['uuid', 'cuid', 'nanoid', 'ulid'])

function expectedSchema (models: DmmfModel[], indexes: DmmfIndex[]) {
  const table = (model: string) => { const m = models.find((x) => x.name === model)!; return m.dbName ?? m.name }
  const column = (model: string, field: string) => {
    const f = models.find((x) => x.name === model)!.fields.find((x) => x.name === field)!
    return f.dbName ?? f.name
  }
  const columns: string[] = []
  const constraints: string[] = []
  for (const model of models) {
    for (const f of model.fields) {
      if (f.kind === 'object') {
        if (f.relationFromFields !== undefined && f.relationFromFields.length > 0) {
          constraints.push(`fk ${table(model.name)}(${f.relationFromFields.map((x) => column(model.name, x)).join(',')}) -> ${table(f.type)}(${f.relationToFields!.map((x) => column(f.type, x)).join(',')}) on delete ${(f.relationOnDelete ?? 'NoAction').toLowerCase()}`)
        }
        continue
      }
      const type = f.nativeType != null ? NATIVE_TYPES[f.nativeType[0]]!(f.nativeType[1]) : SCALAR_TYPES[f.type]
      const dbDefault = f.hasDefaultValue && !CLIENT_DEFAULTS.has(f.default?.name ?? '')
      columns.push(`${table(model.name)}.${f.dbName ?? f.name} ${type} ${f.isRequired ? 'not null' : 'null'}${dbDefault ? ' default' : ''}`)
    }
  }
  for (const index of indexes) {
    const kind = { id: 'pk', unique: 'unique', normal: 'index' }[index.type]
    constraints.push(`${kind} ${table(index.model)}(${index.fields.map((f) => column(index.model, f.name)).join(',')})`)
  }
  return { columns: columns.sort(), constraints: constraints.sort() }
}

// Indexes schema.prisma cannot declare safely, each named in a /// comment of its model:
// Prisma's partialIndexes preview would make the partial unique column a lookup key of the client.
// Views (auth_events, over auth_events_log) are not compared: Prisma models tables.
const SQL_ONLY_INDEXES = [
  'unique refresh_tokens(session_id) where (retired_at IS NULL)',
  'index refresh_tokens(expires_at) where (retired_at IS NOT NULL)',
  "index auth_events_log(outcome,created_at) where ((outcome)::text <> 'ok'::text)"
]

// CHECKs, which schema.prisma cannot declare: the names are src/platforms/adapter.ts's,
// so a platform or subject kind added there without a migration fails here.
const oneOf = (column: string, names: readonly string[]) => `CHECK ((${column} = ANY (ARRAY[${names.map((n) => `'${n}'::text`).join(', ')}])))`
const SQL_ONLY_CHECKS = [
  `identities ${oneOf('platform', PLATFORMS)}`,
  `identities ${oneOf('subject_kind', SUBJECT_KINDS)}`,
  `users ${oneOf('union_platform', PLATFORMS)}`,
  'users CHECK (((unionid IS NULL) = (union_platform IS NULL)))'
].sort()

const ON_DELETE: Record<string, string> = { a: 'noaction', r: 'restrict', c: 'cascade', n: 'setnull', d: 'setdefault' }

async function actualSchema (url: string) {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const cols = await client.query(`
      SELECT c.table_name, c.column_name, c.is_nullable, c.column_default IS NOT NULL AS has_default,
             c.udt_name, c.character_maximum_length, c.datetime_precision
      FROM information_schema.columns c
      JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
      WHERE c.table_schema = 'public' AND c.table_name <> '_prisma_migrations' AND t.table_type = 'BASE TABLE'`)
    const columns = cols.rows.map((r) => {
      let type = r.udt_name as string
      if (type === 'varchar' || type === 'bpchar') type += `(${r.character_maximum_length})`
      if (type === 'timestamptz' || type === 'timestamp') type += `(${r.datetime_precision})`
      return `${r.table_name}.${r.column_name} ${type} ${r.is_nullable === 'NO' ? 'not null' : 'null'}${r.has_default ? ' default' : ''}`
    })
    const idx = await client.query(`
      SELECT t.relname AS table_name, i.indisprimary, i.indisunique, pg_get_expr(i.indpred, i.indrelid) AS predicate,
             array_to_string(ARRAY(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(attnum, n)
               JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.n), ',') AS cols
      FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace ns ON ns.oid = t.relnamespace
      WHERE ns.nspname = 'public' AND t.relname <> '_prisma_migrations'`)
    const fks = await client.query(`
      SELECT src.relname AS table_name, dst.relname AS ref_table, c.confdeltype,
        array_to_string(ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(attnum, n) JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum ORDER BY k.n), ',') AS cols,
        array_to_string(ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(attnum, n) JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum ORDER BY k.n), ',') AS ref_cols
      FROM pg_constraint c JOIN pg_class src ON src.oid = c.conrelid JOIN pg_class dst ON dst.oid = c.confrelid
      JOIN pg_namespace ns ON ns.oid = src.relnamespace
      WHERE c.contype = 'f' AND ns.nspname = 'public'`)
    const checks = await client.query(`
      SELECT t.relname AS table_name, pg_get_constraintdef(c.oid) AS definition
      FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace ns ON ns.oid = t.relnamespace
      WHERE c.contype = 'c' AND ns.nspname = 'public'`)
    const constraints = [
      ...idx.rows.map((r) => `${r.indisprimary ? 'pk' : r.indisunique ? 'unique' : 'index'} ${r.table_name}(${r.cols})${r.predicate === null ? '' : ` where ${r.predicate}`}`),
      ...fks.rows.map((r) => `fk ${r.table_name}(${r.cols}) -> ${r.ref_table}(${r.ref_cols}) on delete ${ON_DELETE[r.confdeltype]}`)
    ]
    return { columns: columns.sort(), constraints: constraints.sort(), checks: checks.rows.map((r) => `${r.table_name} ${r.definition}`).sort() }
  } finally {
    await client.end()
  }
}

t.test('the migrations build exactly what schema.prisma declares', async (t) => {
  const schema = await readFile(new URL('../../prisma/schema.prisma', import.meta.url), 'utf8')
  const dmmf = JSON.parse(getDmmf(JSON.stringify({ prismaSchema: schema }))) as { datamodel: { models: DmmfModel[], indexes: DmmfIndex[] } }
  const expected = expectedSchema(dmmf.datamodel.models, dmmf.datamodel.indexes)
  expected.constraints = [...expected.constraints, ...SQL_ONLY_INDEXES].sort()
  const testDb = await testDatabase(t)
  const actual = await actualSchema(testDb.url)
  t.ok(expected.columns.length > 10, 'the schema was read')
  t.same(actual.columns, expected.columns, 'columns: name, type, nullability, database default')
  t.same(actual.constraints, expected.constraints, 'primary keys, unique and plain indexes, foreign keys')
  t.same(actual.checks, SQL_ONLY_CHECKS, 'CHECKs: the platforms and subject kinds of the adapter contract')
})
