// Shared by the Node.js suites: a throwaway database with medreserve, on the
// cluster named by PGHOST/PGPORT (PGUSER, default postgres).
import pg from 'pg';

export async function withAdmin(database, fn) {
  const client = new pg.Client({ database, user: process.env.PGUSER || 'postgres' });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

// Creates the database (dropped by the returned cleanup) and the extension.
export async function createDatabase(name) {
  await withAdmin('postgres', async (c) => {
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await c.query(`CREATE DATABASE ${name}`);
  });
  await withAdmin(name, (c) => c.query('SET client_min_messages = warning; CREATE EXTENSION medreserve CASCADE'));
  return async () => withAdmin('postgres', (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
}
