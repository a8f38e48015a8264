import { PrismaPg } from '@prisma/adapter-pg'
import { PrismaClient } from '../generated/prisma/client.js'

export type Db = PrismaClient

export interface DbOptions {
  url: string
  poolSize: number
}

export function createPrisma ({ url, poolSize }: DbOptions): Db {
  const adapter = new PrismaPg({
    connectionString: url,
    max: poolSize,
    // Bounded waits: a lost database turns into a 503, not a hung request.
    connectionTimeoutMillis: 3000,
    idleTimeoutMillis: 30_000
  })
  return new PrismaClient({ adapter })
}
