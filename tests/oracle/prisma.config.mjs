// The real Prisma CLI (6.19, driver-adapter mode: its schema engine runs as WebAssembly, no
// native engine is downloaded) as a test oracle for envsync's Prisma ledger.
// `?schema=NAME` in DATABASE_URL becomes the session's search_path, as Prisma's native engine
// sets it; the pool lets the process exit as soon as the command is done.
import { defineConfig } from "prisma/config";
import { PrismaPg } from "@prisma/adapter-pg";

const url = process.env.DATABASE_URL;
const schema = new URL(url).searchParams.get("schema") ?? undefined;

export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  schema: process.env.ORACLE_SCHEMA,
  async adapter() {
    return new PrismaPg(
      {
        connectionString: url,
        allowExitOnIdle: true,
        options: schema ? `-c search_path="${schema}"` : undefined,
      },
      schema ? { schema } : undefined,
    );
  },
});
