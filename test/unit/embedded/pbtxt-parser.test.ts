import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import {
  ModelConfigError,
  parseModelConfig,
  parsePbtxtRaw,
} from '../../../gateway/src/embedded/pbtxt-parser.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const tritonModels = join(repoRoot, 'triton-models');

describe('config.pbtxt parser on the repository', () => {
  const files = existsSync(tritonModels)
    ? readdirSync(tritonModels)
        .map((d) => join(tritonModels, d, 'config.pbtxt'))
        .filter((f) => existsSync(f))
    : [];
  it('finds the configs to check (the list may be empty early in the project)', () => {
    assert.ok(Array.isArray(files));
  });
  for (const file of files) {
    it(`parses ${file.slice(repoRoot.length + 1)}`, () => {
      const folder = dirname(file).split(/[\\/]/).pop() as string;
      const cfg = parseModelConfig(readFileSync(file, 'utf8'), file, folder);
      assert.equal(cfg.name, folder);
      assert.ok(cfg.input.length > 0);
      for (const t of [...cfg.input, ...cfg.output]) assert.ok(t.dims.length > 0, `${t.name} has dims`);
    });
  }
});

describe('config.pbtxt parser', () => {
  it('parses every construct of the text format the configs use', () => {
    const cfg = parseModelConfig(
      `# leading comment
name: "dec"   # trailing comment
backend: "onnxruntime"
max_batch_size: 8
version_policy: { specific { versions: [1, 3] } }
input [
  { name: "a" data_type: TYPE_FP32 dims: [ -1, 2 ] optional: true },
  { name: 'b', data_type: TYPE_INT64, dims: 1, dims: 2; reshape: { shape: [ 2 ] } }
]
output { name: "y" data_type: TYPE_FP16 dims: [ 4 ] }
output < name: "z" data_type: TYPE_STRING dims: [ 1 ] >
dynamic_batching { preferred_batch_size: [ 2, 4 ] max_queue_delay_microseconds: 100 preserve_ordering: true }
instance_group [ { count: 2 kind: KIND_CPU } ]
parameters { key: "esc" value { string_value: "tab\\there \\"quoted\\" \\x41\\101 caf\\303\\251" } }
parameters: [ { key: "k2" value: { string_value: "v" "w" } } ]
model_warmup [ { name: "w" batch_size: 1 inputs { key: "a" value: { data_type: TYPE_FP32 dims: [ 2 ] zero_data: true } } } ]
optimization { execution_accelerators { cpu_execution_accelerator [ { name: "openvino" parameters { key: "k" value: "v" } } ] } }
`,
      'dec/config.pbtxt',
    );
    assert.equal(cfg.name, 'dec');
    assert.equal(cfg.backend, 'onnxruntime');
    assert.equal(cfg.maxBatchSize, 8);
    assert.deepEqual(cfg.versionPolicy, { specific: { versions: [1, 3] } });
    assert.deepEqual(cfg.input, [
      { name: 'a', dataType: 'TYPE_FP32', dims: [-1, 2], optional: true },
      { name: 'b', dataType: 'TYPE_INT64', dims: [1, 2], reshape: { shape: [2] } },
    ]);
    assert.deepEqual(
      cfg.output.map((o) => [o.name, o.dataType]),
      [
        ['y', 'TYPE_FP16'],
        ['z', 'TYPE_STRING'],
      ],
    );
    assert.deepEqual(cfg.dynamicBatching, {
      preferredBatchSize: [2, 4],
      maxQueueDelayMicroseconds: 100,
      preserveOrdering: true,
    });
    assert.deepEqual(cfg.instanceGroup, [{ kind: 'KIND_CPU', count: 2 }]);
    assert.equal(cfg.parameters.esc.stringValue, 'tab\there "quoted" AA café');
    assert.equal(cfg.parameters.k2.stringValue, 'vw');
    assert.deepEqual(cfg.modelWarmup?.[0].inputs.a, { dataType: 'TYPE_FP32', dims: [2], zeroData: true });
    assert.deepEqual(cfg.optimization?.executionAccelerators?.cpuExecutionAccelerator, [
      { name: 'openvino', parameters: { k: 'v' } },
    ]);
  });

  it('parses ensembles with input_map and output_map entries', () => {
    const cfg = parseModelConfig(
      `name: "e" platform: "ensemble"
input [ { name: "IN" data_type: TYPE_FP32 dims: [ -1 ] } ]
output [ { name: "OUT" data_type: TYPE_FP32 dims: [ -1 ] } ]
ensemble_scheduling { step [ { model_name: "a" model_version: -1 input_map { key: "x" value: "IN" } output_map { key: "y" value: "OUT" } } ] }`,
    );
    assert.deepEqual(cfg.ensembleScheduling, {
      step: [{ modelName: 'a', modelVersion: -1, inputMap: { x: 'IN' }, outputMap: { y: 'OUT' } }],
    });
  });

  it('applies defaults: name from the folder, one instance, no batching', () => {
    const cfg = parseModelConfig(
      'platform: "onnxruntime_onnx" input { name: "x" data_type: TYPE_FP32 dims: 1 } output { name: "y" data_type: TYPE_FP32 dims: 1 }',
      'f',
      'folder',
    );
    assert.equal(cfg.name, 'folder');
    assert.equal(cfg.maxBatchSize, 0);
    assert.deepEqual(cfg.instanceGroup, [{ kind: 'KIND_AUTO', count: 1 }]);
    assert.equal(cfg.dynamicBatching, undefined);
  });

  it('reads numbers, floats and enum numbers in the raw tree', () => {
    const raw = parsePbtxtRaw('max_batch_size: -0\ninput { name: "x" data_type: 11 dims: [ 3 ] }');
    assert.equal(raw.maxBatchSize, -0);
    assert.deepEqual(raw.input, [{ name: 'x', dataType: 'TYPE_FP32', dims: [3] }]);
  });

  const malformed: Array<[string, string, string, RegExp]> = [
    [
      'unknown field',
      'name: "a"\nfoo: 1',
      '2:1',
      /unknown field 'foo' in ModelConfig; expected one of name, platform/,
    ],
    [
      'unknown nested field',
      'input [\n  { name: "x" colour: 1 } ]',
      '2:15',
      /unknown field 'colour' in ModelInput/,
    ],
    [
      'missing colon on a scalar',
      'name "a"',
      '1:6',
      /expected ':' after scalar field 'name', got string "a"/,
    ],
    [
      'unknown enum value',
      'input { name: "x" data_type: TYPE_FLOAT }',
      '1:30',
      /expected one of TYPE_INVALID, .* got 'TYPE_FLOAT'/,
    ],
    [
      'string for a number',
      'max_batch_size: "8"',
      '1:17',
      /expected an integer for 'max_batch_size', got string "8"/,
    ],
    ['float for an integer', 'max_batch_size: 1.5', '1:17', /expected an integer/],
    ['unterminated string', 'name: "abc\n', '1:7', /expected a closing quote/],
    ['unclosed message', 'input {\n name: "x"\n', '3:1', /expected '}' to close ModelInput, got end of file/],
    ['stray closing brace', 'name: "a" }', '1:11', /expected a field name of ModelConfig, got '}'/],
    [
      'bad list separator',
      'input { dims: [ 1 2 ] }',
      '1:19',
      /expected ',' or ']' in the list of 'dims', got '2'/,
    ],
    ['list on a singular field', 'name: [ "a" ]', '1:7', /field 'name' is not repeated/],
    ['field set twice', 'name: "a"\nname: "b"', '2:1', /field 'name' of ModelConfig is set twice/],
    ['bad escape', 'name: "a\\q"', '1:9', /expected a valid escape sequence, got '\\q'/],
    ['bad character', 'name: "a" @', '1:11', /got '@'/],
    [
      'bool expected',
      'input { optional: maybe }',
      '1:19',
      /expected true or false for 'optional', got 'maybe'/,
    ],
  ];
  for (const [label, text, where, re] of malformed) {
    it(`reports ${label} at file:${where}`, () => {
      assert.throws(
        () => parseModelConfig(text, 'models/m/config.pbtxt', 'm'),
        (e: unknown) =>
          e instanceof ModelConfigError &&
          e.message.startsWith(`models/m/config.pbtxt:${where}: `) &&
          re.test(e.message),
      );
    });
  }

  const invalid: Array<[string, string, RegExp]> = [
    [
      'negative max_batch_size',
      'platform: "x" max_batch_size: -1 input { name: "a" data_type: TYPE_FP32 dims: 1 } output { name: "b" data_type: TYPE_FP32 dims: 1 }',
      /max_batch_size: expected an integer >= 0, got -1/,
    ],
    [
      'missing dims',
      'platform: "x" input { name: "a" data_type: TYPE_FP32 } output { name: "b" data_type: TYPE_FP32 dims: 1 }',
      /input\[0\].dims: expected dims for 'a'/,
    ],
    [
      'missing data type',
      'platform: "x" input { name: "a" dims: 1 } output { name: "b" data_type: TYPE_FP32 dims: 1 }',
      /input\[0\].data_type: expected a data type/,
    ],
    [
      'zero dim',
      'platform: "x" input { name: "a" data_type: TYPE_FP32 dims: [0] } output { name: "b" data_type: TYPE_FP32 dims: 1 }',
      /expected dims of -1 or > 0/,
    ],
    [
      'duplicate input',
      'platform: "x" input [{ name: "a" data_type: TYPE_FP32 dims: 1 }, { name: "a" data_type: TYPE_FP32 dims: 1 }] output { name: "b" data_type: TYPE_FP32 dims: 1 }',
      /expected unique input names/,
    ],
    [
      'no platform',
      'input { name: "a" data_type: TYPE_FP32 dims: 1 } output { name: "b" data_type: TYPE_FP32 dims: 1 }',
      /expected 'platform' or 'backend'/,
    ],
    [
      'preferred size over max',
      'platform: "x" max_batch_size: 2 dynamic_batching { preferred_batch_size: 4 } input { name: "a" data_type: TYPE_FP32 dims: 1 } output { name: "b" data_type: TYPE_FP32 dims: 1 }',
      /expected sizes in 1..2, got 4/,
    ],
    [
      'zero instances',
      'platform: "x" instance_group { count: 0 } input { name: "a" data_type: TYPE_FP32 dims: 1 } output { name: "b" data_type: TYPE_FP32 dims: 1 }',
      /instance_group\[0\].count/,
    ],
    [
      'ensemble without steps',
      'platform: "ensemble" input { name: "a" data_type: TYPE_FP32 dims: 1 } output { name: "b" data_type: TYPE_FP32 dims: 1 }',
      /at least one step/,
    ],
  ];
  for (const [label, text, re] of invalid) {
    it(`rejects ${label} naming the file and field`, () => {
      assert.throws(
        () => parseModelConfig(text, 'cfg.pbtxt', 'm'),
        (e: unknown) =>
          e instanceof ModelConfigError && e.message.startsWith('cfg.pbtxt: ') && re.test(e.message),
      );
    });
  }
});
