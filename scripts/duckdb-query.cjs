// Reads a run's Parquet results with DuckDB (an independent Parquet reader)
// and prints JSON: the schema of both tables, their row counts, and the
// query from the README that ranks DoGo against solo.
// With --sql QUERY it runs that query instead and prints its rows.
// Usage: NODE_PATH=DIR/node_modules node scripts/duckdb-query.cjs RUN/results
//        NODE_PATH=DIR/node_modules node scripts/duckdb-query.cjs --sql "select ..."
const { DuckDBInstance } = require('@duckdb/node-api');

async function main() {
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  const rows = async (sql) => (await c.runAndReadAll(sql)).getRowObjectsJson();
  if (process.argv[2] === '--sql') {
    console.log(JSON.stringify(await rows(process.argv[3])));
    return;
  }
  const dir = process.argv[2];
  const out = {
    jobs_schema: await rows(`describe select * from '${dir}/jobs.parquet'`),
    metrics_schema: await rows(`describe select * from '${dir}/metrics.parquet'`),
    jobs: await rows(`select count(*) as n from '${dir}/jobs.parquet'`),
    metrics: await rows(`select count(*) as n from '${dir}/metrics.parquet'`),
    ranking: await rows(`
      select j.method, j.arch, j.role, avg(m.value) as acc, count(*) as n
      from '${dir}/metrics.parquet' m join '${dir}/jobs.parquet' j using (job, attempt)
      where j.kind = 'linear' and m.split = 'test' and m.name = 'accuracy_at_best_val'
      group by all order by acc desc`),
  };
  console.log(JSON.stringify(out));
}
main().catch((e) => { console.error(e); process.exit(1); });
