/**
 * Parser for Triton's `config.pbtxt` (protobuf text format) into the ModelConfig object of model-config.ts.
 * A schema of the supported subset of model_config.proto drives the parse, so an unknown field, a value of the
 * wrong kind or bad syntax fails with `file:line:column` and what was expected; the result is then validated
 * (max_batch_size, dims, data types, instance counts ...) and given Triton's defaults.
 * Spec: https://protobuf.dev/reference/protobuf/textformat-spec/ and Triton's model_configuration.md
 */
import type { ConfigDataType, ModelConfig, ModelTensorConfig } from '../protocol/model-config.ts';

/** A config.pbtxt that cannot be parsed or is not a valid model configuration. */
export class ModelConfigError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    /** What the parser or validator wanted, and what it found. */
    readonly detail: string,
  ) {
    super(line > 0 ? `${file}:${line}:${column}: ${detail}` : `${file}: ${detail}`);
    this.name = 'ModelConfigError';
  }
}

type Scalar = 'string' | 'int' | 'float' | 'bool';
type FieldType =
  { scalar: Scalar } | { enumOf: readonly string[] } | { message: Schema } | { map: FieldType };
interface Field {
  type: FieldType;
  repeated?: boolean;
}
interface Schema {
  name: string;
  fields: Record<string, Field>;
}

const S = (scalar: Scalar, repeated = false): Field => ({ type: { scalar }, repeated });
const E = (values: readonly string[], repeated = false): Field => ({ type: { enumOf: values }, repeated });
const M = (schema: Schema, repeated = false): Field => ({ type: { message: schema }, repeated });
const MAP = (value: FieldType): Field => ({ type: { map: value } });

const DATA_TYPES: readonly ConfigDataType[] = [
  'TYPE_INVALID',
  'TYPE_BOOL',
  'TYPE_UINT8',
  'TYPE_UINT16',
  'TYPE_UINT32',
  'TYPE_UINT64',
  'TYPE_INT8',
  'TYPE_INT16',
  'TYPE_INT32',
  'TYPE_INT64',
  'TYPE_FP16',
  'TYPE_FP32',
  'TYPE_FP64',
  'TYPE_STRING',
  'TYPE_BF16',
];

const Reshape: Schema = { name: 'ModelTensorReshape', fields: { shape: S('int', true) } };
const ModelInput: Schema = {
  name: 'ModelInput',
  fields: {
    name: S('string'),
    data_type: E(DATA_TYPES),
    format: E(['FORMAT_NONE', 'FORMAT_NHWC', 'FORMAT_NCHW']),
    dims: S('int', true),
    reshape: M(Reshape),
    is_shape_tensor: S('bool'),
    allow_ragged_batch: S('bool'),
    optional: S('bool'),
  },
};
const ModelOutput: Schema = {
  name: 'ModelOutput',
  fields: {
    name: S('string'),
    data_type: E(DATA_TYPES),
    dims: S('int', true),
    reshape: M(Reshape),
    label_filename: S('string'),
    is_shape_tensor: S('bool'),
  },
};
const VersionPolicy: Schema = {
  name: 'ModelVersionPolicy',
  fields: {
    latest: M({ name: 'Latest', fields: { num_versions: S('int') } }),
    all: M({ name: 'All', fields: {} }),
    specific: M({ name: 'Specific', fields: { versions: S('int', true) } }),
  },
};
const InstanceGroup: Schema = {
  name: 'ModelInstanceGroup',
  fields: {
    name: S('string'),
    kind: E(['KIND_AUTO', 'KIND_GPU', 'KIND_CPU', 'KIND_MODEL']),
    count: S('int'),
    gpus: S('int', true),
    profile: S('string', true),
    passive: S('bool'),
    host_policy: S('string'),
  },
};
const DynamicBatching: Schema = {
  name: 'ModelDynamicBatching',
  fields: {
    preferred_batch_size: S('int', true),
    max_queue_delay_microseconds: S('int'),
    preserve_ordering: S('bool'),
    priority_levels: S('int'),
    default_priority_level: S('int'),
  },
};
const Ensembling: Schema = {
  name: 'ModelEnsembling',
  fields: {
    step: M(
      {
        name: 'Step',
        fields: {
          model_name: S('string'),
          model_version: S('int'),
          input_map: MAP({ scalar: 'string' }),
          output_map: MAP({ scalar: 'string' }),
          model_namespace: S('string'),
        },
      },
      true,
    ),
  },
};
const Parameter: Schema = { name: 'ModelParameter', fields: { string_value: S('string') } };
const Warmup: Schema = {
  name: 'ModelWarmup',
  fields: {
    name: S('string'),
    batch_size: S('int'),
    inputs: MAP({
      message: {
        name: 'ModelWarmup.Input',
        fields: {
          data_type: E(DATA_TYPES),
          dims: S('int', true),
          zero_data: S('bool'),
          random_data: S('bool'),
          input_data_file: S('string'),
        },
      },
    }),
    count: S('int'),
  },
};
const Accelerator: Schema = {
  name: 'Accelerator',
  fields: { name: S('string'), parameters: MAP({ scalar: 'string' }) },
};
const Optimization: Schema = {
  name: 'ModelOptimizationPolicy',
  fields: {
    execution_accelerators: M({
      name: 'ExecutionAccelerators',
      fields: {
        gpu_execution_accelerator: M(Accelerator, true),
        cpu_execution_accelerator: M(Accelerator, true),
      },
    }),
  },
};
const ModelConfigSchema: Schema = {
  name: 'ModelConfig',
  fields: {
    name: S('string'),
    platform: S('string'),
    backend: S('string'),
    runtime: S('string'),
    version_policy: M(VersionPolicy),
    max_batch_size: S('int'),
    input: M(ModelInput, true),
    output: M(ModelOutput, true),
    optimization: M(Optimization),
    dynamic_batching: M(DynamicBatching),
    ensemble_scheduling: M(Ensembling),
    instance_group: M(InstanceGroup, true),
    default_model_filename: S('string'),
    cc_model_filenames: MAP({ scalar: 'string' }),
    metric_tags: MAP({ scalar: 'string' }),
    parameters: MAP({ message: Parameter }),
    model_warmup: M(Warmup, true),
  },
};

type TokKind = 'ident' | 'number' | 'string' | 'punct' | 'eof';
interface Token {
  kind: TokKind;
  text: string;
  value?: string;
  line: number;
  column: number;
}

function describe(t: Token): string {
  switch (t.kind) {
    case 'eof':
      return 'end of file';
    case 'string':
      return `string "${t.value}"`;
    case 'punct':
      return `'${t.text}'`;
    case 'ident':
    case 'number':
      return `'${t.text}'`;
    default:
      return t.kind satisfies never;
  }
}

class Lexer {
  private pos = 0;
  private line = 1;
  private col = 1;
  private peeked: Token | undefined;

  constructor(
    private readonly src: string,
    private readonly file: string,
  ) {}

  fail(t: { line: number; column: number }, detail: string): never {
    throw new ModelConfigError(this.file, t.line, t.column, detail);
  }

  peek(): Token {
    this.peeked ??= this.read();
    return this.peeked;
  }

  next(): Token {
    const t = this.peek();
    this.peeked = undefined;
    return t;
  }

  private advance(n = 1): void {
    for (let i = 0; i < n; i += 1) {
      if (this.src[this.pos] === '\n') {
        this.line += 1;
        this.col = 1;
      } else this.col += 1;
      this.pos += 1;
    }
  }

  private read(): Token {
    const src = this.src;
    for (;;) {
      const c = src[this.pos];
      if (c === undefined) return { kind: 'eof', text: '', line: this.line, column: this.col };
      if (c === '#') {
        while (this.pos < src.length && src[this.pos] !== '\n') this.advance();
      } else if (/\s/.test(c)) this.advance();
      else break;
    }
    const line = this.line;
    const column = this.col;
    const c = src[this.pos];
    if ('{}[]:,;<>'.includes(c)) {
      this.advance();
      return { kind: 'punct', text: c, line, column };
    }
    if (c === '"' || c === "'") return this.readString(c, line, column);
    const m =
      /^(-?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)[fF]?|-?(?:inf|infinity|nan)\b)/i.exec(
        src.slice(this.pos, this.pos + 64),
      );
    if (m && (/[\d.]/.test(c) || c === '-')) {
      this.advance(m[0].length);
      return { kind: 'number', text: m[0], line, column };
    }
    const id = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(src.slice(this.pos, this.pos + 256));
    if (id) {
      this.advance(id[0].length);
      return { kind: 'ident', text: id[0], line, column };
    }
    this.fail({ line, column }, `expected a field name, value or punctuation, got '${c}'`);
  }

  private readString(quote: string, line: number, column: number): Token {
    this.advance();
    const bytes: number[] = [];
    const push = (s: string) => bytes.push(...Buffer.from(s, 'utf8'));
    for (;;) {
      const c = this.src[this.pos];
      if (c === undefined || c === '\n')
        this.fail({ line, column }, 'expected a closing quote for the string');
      if (c === quote) {
        this.advance();
        break;
      }
      if (c !== '\\') {
        push(c);
        this.advance();
        continue;
      }
      const e = this.src[this.pos + 1];
      const simple: Record<string, number> = {
        n: 10,
        t: 9,
        r: 13,
        a: 7,
        b: 8,
        f: 12,
        v: 11,
        '\\': 92,
        "'": 39,
        '"': 34,
        '?': 63,
      };
      if (e !== undefined && e in simple) {
        bytes.push(simple[e]);
        this.advance(2);
      } else if (e === 'x' || e === 'X') {
        const hex = /^[0-9a-fA-F]{1,2}/.exec(this.src.slice(this.pos + 2, this.pos + 4));
        if (!hex) this.fail({ line: this.line, column: this.col }, 'expected hex digits after \\x');
        bytes.push(parseInt(hex[0], 16));
        this.advance(2 + hex[0].length);
      } else if (e !== undefined && /[0-7]/.test(e)) {
        const oct = /^[0-7]{1,3}/.exec(this.src.slice(this.pos + 1, this.pos + 4)) as RegExpExecArray;
        bytes.push(parseInt(oct[0], 8) & 0xff);
        this.advance(1 + oct[0].length);
      } else {
        this.fail(
          { line: this.line, column: this.col },
          `expected a valid escape sequence, got '\\${e ?? ''}'`,
        );
      }
    }
    return { kind: 'string', text: quote, value: Buffer.from(bytes).toString('utf8'), line, column };
  }
}

type Raw = Record<string, unknown>;

const camel = (s: string): string => s.replace(/_([a-z0-9])/g, (_m, ch: string) => ch.toUpperCase());

class Parser {
  constructor(private readonly lx: Lexer) {}

  parseTop(): Raw {
    const out = this.parseFields(ModelConfigSchema, undefined);
    return out;
  }

  private parseFields(schema: Schema, close: string | undefined): Raw {
    const out: Raw = {};
    const seen = new Set<string>();
    for (;;) {
      const t = this.lx.peek();
      if (close === undefined && t.kind === 'eof') return out;
      if (close !== undefined && t.kind === 'punct' && t.text === close) {
        this.lx.next();
        return out;
      }
      if (t.kind === 'eof') this.lx.fail(t, `expected '${close}' to close ${schema.name}, got end of file`);
      if (t.kind !== 'ident') {
        this.lx.fail(
          t,
          `expected a field name of ${schema.name}${close ? ` or '${close}'` : ''}, got ${describe(t)}`,
        );
      }
      this.lx.next();
      const field = schema.fields[t.text];
      if (!field) {
        const known = Object.keys(schema.fields);
        this.lx.fail(
          t,
          `unknown field '${t.text}' in ${schema.name}; expected one of ${known.length ? known.join(', ') : '(no fields)'}`,
        );
      }
      const key = camel(t.text);
      if (!field.repeated && !('map' in field.type) && seen.has(key)) {
        this.lx.fail(t, `field '${t.text}' of ${schema.name} is set twice`);
      }
      seen.add(key);
      this.parseFieldValue(field, t.text, out, key);
      const sep = this.lx.peek();
      if (sep.kind === 'punct' && (sep.text === ',' || sep.text === ';')) this.lx.next();
    }
  }

  private parseFieldValue(field: Field, fieldName: string, out: Raw, key: string): void {
    const isMessage = 'message' in field.type || 'map' in field.type;
    let t = this.lx.peek();
    const hasColon = t.kind === 'punct' && t.text === ':';
    if (hasColon) {
      this.lx.next();
      t = this.lx.peek();
    } else if (!isMessage) {
      this.lx.fail(t, `expected ':' after scalar field '${fieldName}', got ${describe(t)}`);
    }
    const store = (v: unknown) => {
      if ('map' in field.type) {
        const entry = v as Raw;
        const map = (out[key] ??= {}) as Raw;
        map[String(entry.key ?? '')] = entry.value ?? ('message' in field.type.map ? {} : '');
      } else if (field.repeated) ((out[key] ??= []) as unknown[]).push(v);
      else out[key] = v;
    };
    if (t.kind === 'punct' && t.text === '[') {
      if (!field.repeated && !('map' in field.type))
        this.lx.fail(t, `field '${fieldName}' is not repeated; a list '[...]' is not allowed`);
      this.lx.next();
      if ('map' in field.type || 'message' in field.type) out[key] ??= 'map' in field.type ? {} : [];
      else out[key] ??= [];
      if (this.lx.peek().kind === 'punct' && this.lx.peek().text === ']') {
        this.lx.next();
        return;
      }
      for (;;) {
        store(this.parseSingle(field, fieldName));
        const sep = this.lx.next();
        if (sep.kind === 'punct' && sep.text === ']') return;
        if (!(sep.kind === 'punct' && sep.text === ','))
          this.lx.fail(sep, `expected ',' or ']' in the list of '${fieldName}', got ${describe(sep)}`);
      }
    }
    store(this.parseSingle(field, fieldName));
  }

  private parseSingle(field: Field, fieldName: string): unknown {
    const type = field.type;
    if ('map' in type) {
      const entrySchema: Schema = {
        name: `${fieldName} entry`,
        fields: { key: S('string'), value: { type: type.map } },
      };
      return this.parseMessage(entrySchema, fieldName);
    }
    if ('message' in type) return this.parseMessage(type.message, fieldName);
    const t = this.lx.next();
    if ('enumOf' in type) {
      if (t.kind === 'ident' && type.enumOf.includes(t.text)) return t.text;
      if (t.kind === 'number' && /^\d+$/.test(t.text) && Number(t.text) < type.enumOf.length)
        return type.enumOf[Number(t.text)];
      this.lx.fail(t, `expected one of ${type.enumOf.join(', ')} for '${fieldName}', got ${describe(t)}`);
    }
    switch (type.scalar) {
      case 'string': {
        if (t.kind !== 'string')
          this.lx.fail(t, `expected a quoted string for '${fieldName}', got ${describe(t)}`);
        let s = t.value as string;
        // Adjacent string literals concatenate, as in C and the text format spec.
        while (this.lx.peek().kind === 'string') s += this.lx.next().value as string;
        return s;
      }
      case 'int': {
        if (t.kind !== 'number' || !/^-?\d+$/.test(t.text))
          this.lx.fail(t, `expected an integer for '${fieldName}', got ${describe(t)}`);
        const n = Number(t.text);
        if (!Number.isSafeInteger(n))
          this.lx.fail(t, `expected an integer within ±2^53 for '${fieldName}', got ${t.text}`);
        return n;
      }
      case 'float': {
        if (t.kind === 'number') {
          const txt = t.text.replace(/[fF]$/, '').toLowerCase();
          if (/inf/.test(txt)) return txt.startsWith('-') ? -Infinity : Infinity;
          if (/nan/.test(txt)) return NaN;
          return Number(txt);
        }
        if (t.kind === 'ident' && /^(inf|infinity|nan)$/i.test(t.text))
          return /nan/i.test(t.text) ? NaN : Infinity;
        this.lx.fail(t, `expected a number for '${fieldName}', got ${describe(t)}`);
        break;
      }
      case 'bool':
        if (t.kind === 'ident' && /^(true|True|t)$/.test(t.text)) return true;
        if (t.kind === 'ident' && /^(false|False|f)$/.test(t.text)) return false;
        if (t.kind === 'number' && (t.text === '0' || t.text === '1')) return t.text === '1';
        this.lx.fail(t, `expected true or false for '${fieldName}', got ${describe(t)}`);
        break;
      default:
        return type.scalar satisfies never;
    }
    return undefined;
  }

  private parseMessage(schema: Schema, fieldName: string): Raw {
    const open = this.lx.next();
    if (open.kind !== 'punct' || (open.text !== '{' && open.text !== '<')) {
      this.lx.fail(open, `expected '{' to open ${schema.name} '${fieldName}', got ${describe(open)}`);
    }
    return this.parseFields(schema, open.text === '{' ? '}' : '>');
  }
}

/** Parses protobuf text into the raw field tree (camelCase keys, no defaults); exported for tests. */
export function parsePbtxtRaw(text: string, file = 'config.pbtxt'): Record<string, unknown> {
  return new Parser(new Lexer(text, file)).parseTop();
}

const arr = <T>(v: unknown): T[] => (Array.isArray(v) ? (v as T[]) : []);
const obj = (v: unknown): Raw => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Raw) : {});

/**
 * Parses and validates a config.pbtxt. `defaultName` (the model folder's name) fills a missing `name`.
 * @throws ModelConfigError with file:line:column for syntax and schema errors, and the field path for invalid values
 */
export function parseModelConfig(text: string, file = 'config.pbtxt', defaultName?: string): ModelConfig {
  const raw = parsePbtxtRaw(text, file);
  const bad = (path: string, detail: string): never => {
    throw new ModelConfigError(file, 0, 0, `${path}: ${detail}`);
  };
  const tensors = (list: unknown, kind: 'input' | 'output'): ModelTensorConfig[] => {
    const names = new Set<string>();
    return arr<Raw>(list).map((t, i) => {
      const path = `${kind}[${i}]`;
      const name = String(t.name ?? '');
      if (!name) bad(`${path}.name`, 'expected a non-empty tensor name');
      if (names.has(name)) bad(`${path}.name`, `expected unique ${kind} names, got '${name}' twice`);
      names.add(name);
      const dataType = (t.dataType ?? 'TYPE_INVALID') as ConfigDataType;
      if (dataType === 'TYPE_INVALID')
        bad(`${path}.data_type`, `expected a data type (TYPE_FP32 ...) for '${name}', got none`);
      if (!('dims' in t)) bad(`${path}.dims`, `expected dims for '${name}', got none`);
      const dims = arr<number>(t.dims);
      for (const d of dims)
        if (d !== -1 && d <= 0)
          bad(`${path}.dims`, `expected dims of -1 or > 0 for '${name}', got [${dims.join(',')}]`);
      const out: ModelTensorConfig = { name, dataType, dims };
      if (t.optional === true) out.optional = true;
      if (t.reshape) out.reshape = { shape: arr<number>(obj(t.reshape).shape) };
      return out;
    });
  };
  const name = String(raw.name ?? defaultName ?? '');
  if (!name) bad('name', 'expected a model name');
  const maxBatchSize = Number(raw.maxBatchSize ?? 0);
  if (!Number.isInteger(maxBatchSize) || maxBatchSize < 0)
    bad('max_batch_size', `expected an integer >= 0, got ${maxBatchSize}`);
  const platform = String(raw.platform ?? '');
  const backend = String(raw.backend ?? '');
  if (!platform && !backend)
    bad('platform', "expected 'platform' or 'backend' (e.g. onnxruntime_onnx, ensemble), got neither");
  const cfg: ModelConfig = {
    name,
    platform,
    backend,
    maxBatchSize,
    input: tensors(raw.input, 'input'),
    output: tensors(raw.output, 'output'),
    instanceGroup: arr<Raw>(raw.instanceGroup).map((g, i) => {
      const count = g.count === undefined ? 1 : Number(g.count);
      if (!Number.isInteger(count) || count < 1)
        bad(`instance_group[${i}].count`, `expected a count >= 1, got ${count}`);
      return {
        ...(g.name ? { name: String(g.name) } : {}),
        kind: (g.kind ?? 'KIND_AUTO') as 'KIND_AUTO',
        count,
        ...(Array.isArray(g.gpus) ? { gpus: g.gpus as number[] } : {}),
      };
    }),
    defaultModelFilename: String(raw.defaultModelFilename ?? ''),
    parameters: Object.fromEntries(
      Object.entries(obj(raw.parameters)).map(([k, v]) => [
        k,
        { stringValue: String(obj(v).stringValue ?? '') },
      ]),
    ),
  };
  if (cfg.instanceGroup.length === 0) cfg.instanceGroup = [{ kind: 'KIND_AUTO', count: 1 }];
  if (cfg.output.length === 0 && platform !== 'ensemble') bad('output', 'expected at least one output');
  if (cfg.input.length === 0) bad('input', 'expected at least one input');
  if (raw.versionPolicy) {
    const vp = obj(raw.versionPolicy);
    const keys = Object.keys(vp);
    if (keys.length !== 1)
      bad('version_policy', `expected exactly one of latest, all, specific, got ${keys.length}`);
    if (vp.latest) {
      const n = Number(obj(vp.latest).numVersions ?? 1);
      if (n < 1) bad('version_policy.latest.num_versions', `expected >= 1, got ${n}`);
      cfg.versionPolicy = { latest: { numVersions: n } };
    } else if (vp.all) cfg.versionPolicy = { all: {} };
    else cfg.versionPolicy = { specific: { versions: arr<number>(obj(vp.specific).versions) } };
  }
  if (raw.dynamicBatching && raw.ensembleScheduling)
    bad('dynamic_batching', 'expected at most one of dynamic_batching, ensemble_scheduling');
  if (raw.dynamicBatching) {
    const d = obj(raw.dynamicBatching);
    const preferred = arr<number>(d.preferredBatchSize);
    for (const p of preferred) {
      if (p < 1 || (maxBatchSize > 0 && p > maxBatchSize)) {
        bad('dynamic_batching.preferred_batch_size', `expected sizes in 1..${maxBatchSize}, got ${p}`);
      }
    }
    const delay = Number(d.maxQueueDelayMicroseconds ?? 0);
    if (delay < 0) bad('dynamic_batching.max_queue_delay_microseconds', `expected >= 0, got ${delay}`);
    cfg.dynamicBatching = {
      preferredBatchSize: preferred,
      maxQueueDelayMicroseconds: delay,
      ...(d.preserveOrdering === true ? { preserveOrdering: true } : {}),
    };
  }
  if (platform === 'ensemble') {
    const steps = arr<Raw>(obj(raw.ensembleScheduling).step);
    if (steps.length === 0) bad('ensemble_scheduling', 'expected an ensemble with at least one step');
    cfg.ensembleScheduling = {
      step: steps.map((s, i) => {
        if (!s.modelName) bad(`ensemble_scheduling.step[${i}].model_name`, 'expected a model name');
        return {
          modelName: String(s.modelName),
          modelVersion: s.modelVersion === undefined ? -1 : Number(s.modelVersion),
          inputMap: obj(s.inputMap) as Record<string, string>,
          outputMap: obj(s.outputMap) as Record<string, string>,
        };
      }),
    };
  } else if (raw.ensembleScheduling)
    bad('ensemble_scheduling', `expected only with platform "ensemble", got platform "${platform}"`);
  const warmup = arr<Raw>(raw.modelWarmup);
  if (warmup.length > 0) {
    cfg.modelWarmup = warmup.map((w) => ({
      name: String(w.name ?? ''),
      batchSize: Number(w.batchSize ?? 0),
      count: Number(w.count ?? 0),
      inputs: Object.fromEntries(
        Object.entries(obj(w.inputs)).map(([k, v]) => {
          const i = obj(v);
          return [
            k,
            {
              dataType: (i.dataType ?? 'TYPE_INVALID') as ConfigDataType,
              dims: arr<number>(i.dims),
              ...(i.zeroData ? { zeroData: true } : {}),
              ...(i.randomData ? { randomData: true } : {}),
            },
          ];
        }),
      ),
    }));
  }
  const acc = obj(obj(raw.optimization).executionAccelerators);
  if (raw.optimization) {
    const list = (v: unknown) =>
      arr<Raw>(v).map((a) => ({
        name: String(a.name ?? ''),
        parameters: obj(a.parameters) as Record<string, string>,
      }));
    cfg.optimization = {
      executionAccelerators: {
        gpuExecutionAccelerator: list(acc.gpuExecutionAccelerator),
        cpuExecutionAccelerator: list(acc.cpuExecutionAccelerator),
      },
    };
  }
  return cfg;
}
