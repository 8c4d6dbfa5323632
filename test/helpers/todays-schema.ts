/**
 * Test helper: a SQLite database with the job store's schema as the release before the metric table wrote
 * it (schema version 4, main at f245429), built from the numbered migrations exactly as that release's
 * opener applied them. Later releases must open, run, resume and report on such a file.
 */
import type Database from 'better-sqlite3';
import { MIGRATIONS } from '../../gateway/src/store/migrations.ts';

/** The schema version of the release before the metric table. */
export const TODAYS_SCHEMA_VERSION = 4;

/** Creates today's schema in an empty database, with its `schema_version` rows. */
export function writeTodaysSqliteSchema(db: Database.Database): void {
  db.exec('CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
  for (const m of MIGRATIONS.filter((x) => x.version <= TODAYS_SCHEMA_VERSION)) {
    db.exec(m.sqlite);
    db.prepare('INSERT INTO schema_version (version, applied_at) VALUES (?, ?)').run(
      m.version,
      '2026-12-01T00:00:00Z',
    );
  }
}

/** The metric columns of today's samples table, in column order. */
export function todaysMetricColumns(): string[] {
  return ['dice', 'iou', 'hd', 'hd95', 'asd', 'assd', 'nsd'].flatMap((m) => [`oracle_${m}`, `deploy_${m}`]);
}
