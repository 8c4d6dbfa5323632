/**
 * `medseg keys create|list|revoke`: manages the gateway's API keys in API_KEYS_FILE (default
 * STATE_DIR/api-keys.json, mode 0600). A running gateway picks changes up within a second.
 */
import { join, resolve } from 'node:path';
import { ApiKeyError, ApiKeyStore } from '../../security/api-keys.ts';
import { parseRoles, ROLES } from '../../security/roles.ts';
import { CliError, EXIT, parseCliArgs, type CliCommand, type CliIo } from '../command.ts';

const USAGE = `usage: medseg keys create --name NAME --roles ROLE[,ROLE...] [--file PATH] [--json]
       medseg keys list [--file PATH] [--json]
       medseg keys revoke ID [--file PATH]

Manages API keys. 'create' prints the new key once: it is stored only as a SHA-256 digest and cannot be
shown again. Roles: ${ROLES.join(', ')} (admin may do everything). Clients send the key as
'Authorization: Bearer <key>' (or 'x-api-key: <key>'). The key file is API_KEYS_FILE, or
STATE_DIR/api-keys.json (default ./.medseg/api-keys.json); --file overrides both.`;

function keyFile(flag: string | undefined): string {
  if (flag) return resolve(flag);
  const env = process.env.API_KEYS_FILE?.trim();
  return resolve(env || join(process.env.STATE_DIR?.trim() || '.medseg', 'api-keys.json'));
}

function parse(args: string[]) {
  return parseCliArgs(
    args,
    {
      allowPositionals: true,
      options: {
        name: { type: 'string' },
        roles: { type: 'string' },
        file: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
    },
    USAGE,
  );
}

function open(file: string): ApiKeyStore {
  try {
    return new ApiKeyStore(file);
  } catch (err: unknown) {
    if (err instanceof ApiKeyError) throw new CliError(err.message, EXIT.failure);
    throw err;
  }
}

function run(args: string[], io: CliIo): number {
  const [sub, ...rest] = args;
  const { values, positionals } = parse(rest);
  const file = keyFile(values.file);
  switch (sub) {
    case 'create': {
      if (!values.name) throw new CliError(`keys create needs --name\n${USAGE}`);
      if (!values.roles)
        throw new CliError(`keys create needs --roles (some of ${ROLES.join(', ')})\n${USAGE}`);
      let roles;
      try {
        roles = parseRoles(values.roles);
      } catch (err: unknown) {
        throw new CliError((err as Error).message);
      }
      let created;
      try {
        created = open(file).create(values.name, roles);
      } catch (err: unknown) {
        if (err instanceof ApiKeyError) throw new CliError(err.message);
        throw err;
      }
      const { record, key } = created;
      if (values.json)
        io.stdout(JSON.stringify({ id: record.id, name: record.name, roles: record.roles, key }) + '\n');
      else
        io.stdout(
          [
            `created key ${record.id} '${record.name}' with roles ${record.roles.join(',')} in ${file}`,
            'the key (shown only now; store it in a secret manager):',
            key,
            '',
          ].join('\n'),
        );
      return EXIT.ok;
    }
    case 'list': {
      const rows = open(file).list();
      if (values.json) {
        io.stdout(JSON.stringify(rows.map(({ sha256: _digest, ...r }) => r)) + '\n');
        return EXIT.ok;
      }
      if (rows.length === 0) {
        io.stdout(`no keys in ${file}\n`);
        return EXIT.ok;
      }
      const lines = rows.map(
        (r) =>
          `${r.id}  ${r.revokedAt ? 'revoked' : 'active '}  ${r.roles.join(',').padEnd(24)} ${r.createdAt}  ${r.name}`,
      );
      io.stdout(
        ['id            state    roles                    created                   name', ...lines, ''].join(
          '\n',
        ),
      );
      return EXIT.ok;
    }
    case 'revoke': {
      const id = positionals[0];
      if (!id || positionals.length > 1) throw new CliError(`keys revoke needs exactly one key id\n${USAGE}`);
      if (!open(file).revoke(id))
        throw new CliError(`no active key with id '${id}' in ${file}`, EXIT.failure);
      io.stdout(`revoked key ${id}\n`);
      return EXIT.ok;
    }
    default:
      throw new CliError(`unknown or missing sub-command '${sub ?? ''}'\n${USAGE}`);
  }
}

export const command: CliCommand = {
  name: 'keys',
  summary: 'create, list and revoke API keys (stored hashed, mode 0600)',
  usage: USAGE,
  async run(args, io) {
    return run(args, io);
  },
};
