/**
 * A small, deterministic builder for ONNX models (ModelProto), used to generate the project's reference
 * SAM models and test models. Output bytes depend only on the graph built: no timestamps, no randomness.
 * Spec: https://onnx.ai/onnx/repo-docs/IR.html (IR version 8, default-domain opset ≤ 17).
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** ONNX TensorProto.DataType values used here. */
export const OnnxType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  // Graph inputs and outputs only (tensorProto does not build string constants).
  STRING: 8,
} as const;

/** One of the ONNX element types in {@link OnnxType}. */
export type OnnxElemType = (typeof OnnxType)[keyof typeof OnnxType];

/** A dimension: a fixed size, or a symbolic name for a variable size. */
export type Dim = number | string;

/** An attribute value; arrays of numbers are ints unless wrapped with {@link floats}. */
export type AttrValue =
  | number
  | string
  | number[]
  | { floats: number[] }
  | { float: number }
  | { tensor: ReturnType<typeof tensorProto> }
  | { graph: ReturnType<GraphBuilder['toGraphProto']> };

/** Marks a number array attribute as floats. */
export function floats(values: number[]): { floats: number[] } {
  return { floats: values };
}

/** Marks a number attribute as a float (plain numbers that are integers become ints). */
export function float(value: number): { float: number } {
  return { float: value };
}

/** Builds an ONNX TensorProto from typed data. */
export function tensorProto(
  name: string,
  type: OnnxElemType,
  dims: number[],
  data: Float32Array | Int32Array | BigInt64Array | Uint8Array | number[],
) {
  const t: Record<string, unknown> = { name, dataType: type, dims };
  switch (type) {
    case OnnxType.FLOAT: {
      const arr = data instanceof Float32Array ? data : Float32Array.from(data as number[]);
      t.rawData = new Uint8Array(arr.buffer.slice(arr.byteOffset, arr.byteOffset + arr.byteLength));
      break;
    }
    case OnnxType.INT64: {
      const arr =
        data instanceof BigInt64Array
          ? data
          : BigInt64Array.from(Array.from(data as number[], (v) => BigInt(v)));
      t.rawData = new Uint8Array(arr.buffer.slice(arr.byteOffset, arr.byteOffset + arr.byteLength));
      break;
    }
    case OnnxType.INT32: {
      const arr = data instanceof Int32Array ? data : Int32Array.from(data as number[]);
      t.rawData = new Uint8Array(arr.buffer.slice(arr.byteOffset, arr.byteOffset + arr.byteLength));
      break;
    }
    case OnnxType.UINT8:
    case OnnxType.BOOL: {
      const arr = data instanceof Uint8Array ? data : Uint8Array.from(data as number[]);
      t.rawData = new Uint8Array(arr);
      break;
    }
    default:
      throw new Error(`tensorProto: element type ${type} is not supported by the builder`);
  }
  return onnx.TensorProto.create(t);
}

function attribute(name: string, value: AttrValue) {
  const A = onnx.AttributeProto.AttributeType;
  if (typeof value === 'number') {
    return Number.isInteger(value)
      ? onnx.AttributeProto.create({ name, type: A.INT, i: value })
      : onnx.AttributeProto.create({ name, type: A.FLOAT, f: value });
  }
  if (typeof value === 'string') {
    return onnx.AttributeProto.create({ name, type: A.STRING, s: new TextEncoder().encode(value) });
  }
  if (Array.isArray(value)) return onnx.AttributeProto.create({ name, type: A.INTS, ints: value });
  if ('floats' in value) return onnx.AttributeProto.create({ name, type: A.FLOATS, floats: value.floats });
  if ('float' in value) return onnx.AttributeProto.create({ name, type: A.FLOAT, f: value.float });
  if ('tensor' in value) return onnx.AttributeProto.create({ name, type: A.TENSOR, t: value.tensor });
  return onnx.AttributeProto.create({ name, type: A.GRAPH, g: value.graph });
}

function valueInfo(name: string, type: OnnxElemType, dims: Dim[] | undefined) {
  const tensorType: Record<string, unknown> = { elemType: type };
  if (dims) {
    tensorType.shape = {
      dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })),
    };
  }
  return onnx.ValueInfoProto.create({ name, type: { tensorType } });
}

/** Builds one graph: inputs, outputs, initializers and nodes, with generated unique value names. */
export class GraphBuilder {
  private readonly nodes: ReturnType<typeof onnx.NodeProto.create>[] = [];
  private readonly initializers: ReturnType<typeof tensorProto>[] = [];
  private readonly inputs: ReturnType<typeof valueInfo>[] = [];
  private readonly outputs: ReturnType<typeof valueInfo>[] = [];
  private counter = 0;

  /**
   * `prefix` starts every generated value name; give a Loop/If body its own prefix so its names never
   * collide with the outer graph's (ONNX requires unique names across nested scopes).
   */
  constructor(
    readonly name: string,
    readonly prefix = '',
  ) {}

  /** Declares a graph input and returns its name. */
  input(name: string, type: OnnxElemType, dims?: Dim[]): string {
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  /** Declares a graph output (the value must be produced by a node or be an input). */
  output(name: string, type: OnnxElemType, dims?: Dim[]): void {
    this.outputs.push(valueInfo(name, type, dims));
  }

  /** Adds a float32 constant initializer and returns its name. */
  constF(values: number[] | Float32Array, dims: number[] = [values.length], hint = 'c'): string {
    const name = this.fresh(hint);
    this.initializers.push(
      tensorProto(name, OnnxType.FLOAT, dims, values instanceof Float32Array ? values : values),
    );
    return name;
  }

  /** Adds an int64 constant initializer and returns its name. */
  constI64(values: number[], dims: number[] = [values.length], hint = 'i'): string {
    const name = this.fresh(hint);
    this.initializers.push(tensorProto(name, OnnxType.INT64, dims, values));
    return name;
  }

  /** Adds a bool constant initializer and returns its name. */
  constBool(values: boolean[], dims: number[] = [values.length], hint = 'b'): string {
    const name = this.fresh(hint);
    this.initializers.push(
      tensorProto(
        name,
        OnnxType.BOOL,
        dims,
        values.map((v) => (v ? 1 : 0)),
      ),
    );
    return name;
  }

  /**
   * Adds a node and returns its output names. `outputs` is a count (names generated) or explicit names.
   */
  op(
    opType: string,
    inputs: string[],
    attrs: Record<string, AttrValue> = {},
    outputs: number | string[] = 1,
  ): string[] {
    const outNames =
      typeof outputs === 'number' ? Array.from({ length: outputs }, () => this.fresh(opType)) : outputs;
    this.nodes.push(
      onnx.NodeProto.create({
        opType,
        input: inputs,
        output: outNames,
        name: this.fresh(`n_${opType}`),
        attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
      }),
    );
    return outNames;
  }

  /** Adds a single-output node and returns its output name (or writes to `out` when given). */
  op1(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, out?: string): string {
    return this.op(opType, inputs, attrs, out ? [out] : 1)[0];
  }

  /** A fresh unique value name with a readable prefix. */
  fresh(hint: string): string {
    this.counter += 1;
    return `${this.prefix}${hint}_${this.counter}`;
  }

  /** The GraphProto (for a subgraph attribute or the main graph). */
  toGraphProto() {
    return onnx.GraphProto.create({
      name: this.name,
      node: this.nodes,
      initializer: this.initializers,
      input: this.inputs,
      output: this.outputs,
    });
  }
}

/** Options of a serialized model. */
export interface ModelOptions {
  /** Default-domain opset version; ≤ 17 for Triton's onnxruntime backend of the supported releases. */
  opset: number;
  producerName: string;
  producerVersion: string;
  docString?: string;
  /** metadata_props: key/value strings readable through onnxruntime's session metadata. */
  metadata?: Record<string, string>;
}

/** Serializes a graph into ONNX model bytes (IR version 8). Deterministic for a given graph. */
export function serializeModel(graph: GraphBuilder, options: ModelOptions): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: options.opset }],
    producerName: options.producerName,
    producerVersion: options.producerVersion,
    docString: options.docString ?? '',
    graph: graph.toGraphProto(),
    metadataProps: Object.entries(options.metadata ?? {})
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, value]) => ({ key, value })),
  });
  return onnx.ModelProto.encode(model).finish();
}
