/**
 * API keys: random secrets shown once at creation, stored only as SHA-256 digests in a JSON file of mode
 * 0600 (API_KEYS_FILE, default STATE_DIR/api-keys.json). A key reads `msk_<id>_<secret>`: the id finds the
 * record without scanning, the 256-bit secret makes a fast unsalted digest safe (no dictionary to attack).
 * The gateway re-reads the file when it changes, so `medseg keys revoke` takes effect within a second.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { isRole, type Role } from './roles.ts';

/** One stored key (never the secret). */
export interface ApiKeyRecord {
  /** Public id, also the lookup prefix inside the key. */
  id: string;
  name: string;
  roles: Role[];
  /** ISO 8601 creation time. */
  createdAt: string;
  /** ISO 8601 revocation time, or null while the key is active. */
  revokedAt: string | null;
  /** Hex SHA-256 of the secret part. */
  sha256: string;
}

/** A key that failed to parse, or a key file that cannot be used. */
export class ApiKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ApiKeyError';
  }
}

interface KeyFile {
  version: 1;
  keys: ApiKeyRecord[];
}

const KEY_PATTERN = /^msk_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

function digest(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

function validRecord(value: unknown): value is ApiKeyRecord {
  const r = value as Partial<ApiKeyRecord> | null;
  return (
    typeof r === 'object' &&
    r !== null &&
    typeof r.id === 'string' &&
    typeof r.name === 'string' &&
    Array.isArray(r.roles) &&
    r.roles.every(isRole) &&
    typeof r.createdAt === 'string' &&
    (r.revokedAt === null || typeof r.revokedAt === 'string') &&
    typeof r.sha256 === 'string' &&
    /^[0-9a-f]{64}$/.test(r.sha256)
  );
}

/** The key file: create, list, revoke, and verify presented keys. */
export class ApiKeyStore {
  private records: ApiKeyRecord[] = [];
  private loadedMtimeMs = -1;
  private loadedSize = -1;
  private lastCheckMs = 0;

  constructor(
    /** Path of the JSON file. */
    readonly file: string,
    /** How often, at most, the file's mtime is checked for changes, in milliseconds. */
    private readonly recheckMs = 1000,
  ) {
    this.reload(true);
  }

  /** Re-reads the file when it changed (or always with `force`); a missing file means no keys. */
  private reload(force = false): void {
    let stat;
    try {
      stat = statSync(this.file);
    } catch (err: unknown) {
      if ((err as { code?: string }).code === 'ENOENT') {
        this.records = [];
        this.loadedMtimeMs = -1;
        return;
      }
      throw err;
    }
    if (!force && stat.mtimeMs === this.loadedMtimeMs && stat.size === this.loadedSize) return;
    // A key file anyone can read leaks digests and names; one others can write lets them mint keys. Group
    // read is allowed: a Kubernetes Secret mounted for a non-root user with an fsGroup is mode 440.
    if ((stat.mode & 0o027) !== 0) {
      throw new ApiKeyError(
        `API key file ${this.file} has mode ${(stat.mode & 0o777).toString(8)}; expected 600, 640 or 440 (chmod 600 it)`,
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(this.file, 'utf8'));
    } catch (err: unknown) {
      throw new ApiKeyError(`API key file ${this.file} is not valid JSON: ${(err as Error).message}`);
    }
    const keys = (parsed as Partial<KeyFile> | null)?.keys;
    if (!Array.isArray(keys) || !keys.every(validRecord)) {
      throw new ApiKeyError(
        `API key file ${this.file} must hold {"version":1,"keys":[...]} with valid records`,
      );
    }
    this.records = keys;
    this.loadedMtimeMs = stat.mtimeMs;
    this.loadedSize = stat.size;
  }

  private maybeReload(): void {
    const now = Date.now();
    if (now - this.lastCheckMs < this.recheckMs) return;
    this.lastCheckMs = now;
    try {
      this.reload();
    } catch {
      // A half-written or broken file keeps the last good set of keys rather than locking everyone out;
      // the CLI writes atomically, so this only happens on hand edits.
    }
  }

  private save(): void {
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    const body: KeyFile = { version: 1, keys: this.records };
    writeFileSync(tmp, JSON.stringify(body, null, 2) + '\n', { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, this.file);
    const stat = statSync(this.file);
    this.loadedMtimeMs = stat.mtimeMs;
    this.loadedSize = stat.size;
  }

  /** Creates a key; returns the record and the full key, which is never stored and cannot be shown again. */
  create(name: string, roles: Role[], now = new Date()): { record: ApiKeyRecord; key: string } {
    if (!/^[\w .@-]{1,64}$/.test(name)) {
      throw new ApiKeyError(`key name must be 1-64 of letters, digits, space, _ . @ -; got '${name}'`);
    }
    if (roles.length === 0 || !roles.every(isRole))
      throw new ApiKeyError('a key needs at least one valid role');
    this.reload(true);
    let id: string;
    do id = randomBytes(8).toString('hex').slice(0, 12);
    while (this.records.some((r) => r.id === id));
    const secret = randomBytes(32).toString('base64url');
    const record: ApiKeyRecord = {
      id,
      name,
      roles: [...new Set(roles)],
      createdAt: now.toISOString(),
      revokedAt: null,
      sha256: digest(secret),
    };
    this.records = [...this.records, record];
    this.save();
    return { record, key: `msk_${id}_${secret}` };
  }

  /** Every key, active and revoked, oldest first. */
  list(): ApiKeyRecord[] {
    this.reload(true);
    return this.records.map((r) => ({ ...r, roles: [...r.roles] }));
  }

  /** Revokes a key by id; false when no active key has that id. */
  revoke(id: string, now = new Date()): boolean {
    this.reload(true);
    const record = this.records.find((r) => r.id === id && r.revokedAt === null);
    if (!record) return false;
    this.records = this.records.map((r) => (r === record ? { ...r, revokedAt: now.toISOString() } : r));
    this.save();
    return true;
  }

  /** Number of active keys (picks up file changes). */
  activeCount(): number {
    this.maybeReload();
    return this.records.filter((r) => r.revokedAt === null).length;
  }

  /** True when a string has the shape of an API key (so it is not tried as a JWT). */
  static looksLikeKey(token: string): boolean {
    return token.startsWith('msk_');
  }

  /** The active record a presented key belongs to, or undefined; compares digests in constant time. */
  verify(key: string): ApiKeyRecord | undefined {
    const m = KEY_PATTERN.exec(key);
    if (!m) return undefined;
    this.maybeReload();
    const record = this.records.find((r) => r.id === m[1]);
    if (!record || record.revokedAt !== null) return undefined;
    const presented = Buffer.from(digest(m[2]), 'hex');
    const stored = Buffer.from(record.sha256, 'hex');
    return timingSafeEqual(presented, stored) ? record : undefined;
  }
}
