/**
 * Structural edits on a decoded ONNX model (ModelProto): who produces and who consumes each tensor, ancestry
 * queries, rewiring, dead-node pruning and shape declarations. Used to derive served models from published
 * files by finding edit points by the graph's structure rather than by tensor names.
 * Spec: https://onnx.ai/onnx/repo-docs/IR.html (graphs, nodes, value infos).
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** A decoded ONNX model. */
export type Model = onnxProto.onnx.ModelProto;
/** A graph input, output or value info: the fields edits read and write. */
export interface ValueInfo {
  name: string;
  type?: onnxProto.onnx.ITypeProto | null;
}
/** A node: the fields edits read and write (decoding fills every repeated field). */
export interface Node {
  opType: string;
  name: string;
  input: string[];
  output: string[];
  attribute: onnxProto.onnx.IAttributeProto[];
}
/** An initializer: the fields edits read. */
export interface Initializer {
  name: string;
  dims: Array<number | { toString(): string }>;
}
/** A decoded graph, typed by what edits use. */
export interface Graph {
  node: Node[];
  initializer: Initializer[];
  input: ValueInfo[];
  output: ValueInfo[];
  valueInfo: ValueInfo[];
}

/** The graph does not have the structure an edit expects; says what was expected and what was found. */
export class GraphEditError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GraphEditError';
  }
}

/** Decodes ONNX bytes; a file that is not a ModelProto with a graph is a GraphEditError. */
export function decodeModel(bytes: Uint8Array, what: string): Model {
  let model: Model;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err: unknown) {
    throw new GraphEditError(
      `${what} is not an ONNX model: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  if (!model.graph) throw new GraphEditError(`${what} has no graph`);
  return model;
}

/** The graph of a decoded model (decoding fills every repeated field, so its arrays are present). */
export function graphOf(model: Model): Graph {
  return model.graph as unknown as Graph;
}

/** Encodes a model; protobufjs writes fields in declaration order, so equal models give equal bytes. */
export function encodeModel(model: Model): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

/** The default-domain opset a model imports (0 when absent). */
export function defaultOpset(model: Model): number {
  const entry = model.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx');
  return entry ? Number(entry.version) : 0;
}

/** Producer and consumers of each tensor of a graph, computed once for a series of queries. */
export class GraphIndex {
  readonly producer = new Map<string, Node>();
  readonly consumers = new Map<string, Node[]>();
  readonly initializers: Set<string>;

  constructor(readonly model: Model) {
    const g = graphOf(model);
    for (const node of g.node) {
      for (const out of node.output) if (out) this.producer.set(out, node);
      for (const input of node.input) {
        if (!input) continue;
        const list = this.consumers.get(input);
        if (list) list.push(node);
        else this.consumers.set(input, [node]);
      }
    }
    this.initializers = new Set(g.initializer.map((t) => t.name));
  }

  /** Nodes of one operator type, in graph order. */
  nodesOfType(opType: string): Node[] {
    return graphOf(this.model).node.filter((n) => n.opType === opType);
  }

  /** True when `tensor` is computed (transitively) from `ancestor`, within `maxDepth` producer steps. */
  dependsOn(tensor: string, ancestor: string, maxDepth = 8): boolean {
    const seen = new Set<string>();
    const walk = (name: string, depth: number): boolean => {
      if (name === ancestor) return true;
      if (depth === 0 || seen.has(name)) return false;
      seen.add(name);
      const node = this.producer.get(name);
      return node ? node.input.some((i) => i !== '' && walk(i, depth - 1)) : false;
    };
    return walk(tensor, maxDepth);
  }

  /** The first graph output reached from `tensor` going downstream, breadth first (undefined if none). */
  firstGraphOutput(tensor: string): string | undefined {
    const outputs = new Set(graphOf(this.model).output.map((o) => o.name));
    const queue = [tensor];
    const seen = new Set(queue);
    while (queue.length > 0) {
      const name = queue.shift()!;
      if (outputs.has(name)) return name;
      for (const node of this.consumers.get(name) ?? []) {
        for (const out of node.output) {
          if (out && !seen.has(out)) {
            seen.add(out);
            queue.push(out);
          }
        }
      }
    }
    return undefined;
  }

  /** The initializer of that name, or undefined. */
  initializer(name: string): Initializer | undefined {
    return graphOf(this.model).initializer.find((t) => t.name === name);
  }
}

/** Builds a node; `attributes` holds int, ints, string, float and tensor attributes. */
export function node(
  opType: string,
  name: string,
  inputs: string[],
  outputs: string[],
  attributes: Record<
    string,
    number | string | number[] | { float: number } | onnxProto.onnx.ITensorProto
  > = {},
): Node {
  const attribute = Object.entries(attributes).map(([key, value]) => {
    if (typeof value === 'number') return onnx.AttributeProto.create({ name: key, type: 2, i: value });
    if (typeof value === 'string')
      return onnx.AttributeProto.create({ name: key, type: 3, s: new TextEncoder().encode(value) });
    if (Array.isArray(value)) return onnx.AttributeProto.create({ name: key, type: 7, ints: value });
    if ('float' in value && typeof value.float === 'number')
      return onnx.AttributeProto.create({ name: key, type: 1, f: value.float });
    return onnx.AttributeProto.create({
      name: key,
      type: 4,
      t: onnx.TensorProto.create(value as onnxProto.onnx.ITensorProto),
    });
  });
  return onnx.NodeProto.create({ opType, name, input: inputs, output: outputs, attribute }) as Node;
}

/** An INT64 tensor constant. */
export function int64Tensor(name: string, dims: number[], values: number[]): onnxProto.onnx.ITensorProto {
  return { name, dataType: 7, dims, int64Data: values };
}

/** A FLOAT tensor constant. */
export function floatTensor(name: string, dims: number[], values: number[]): onnxProto.onnx.ITensorProto {
  return { name, dataType: 1, dims, floatData: values };
}

/** Sets the declared dims of a graph input or output: numbers are fixed sizes, strings symbolic names. */
export function setDims(info: ValueInfo, dims: Array<number | string>, elemType?: number): void {
  const tensorType = info.type?.tensorType;
  if (!tensorType) throw new GraphEditError(`graph value ${info.name} is not a tensor`);
  if (elemType !== undefined) tensorType.elemType = elemType;
  tensorType.shape = onnx.TensorShapeProto.create({
    dim: dims.map((d) =>
      typeof d === 'number'
        ? onnx.TensorShapeProto.Dimension.create({ dimValue: d })
        : onnx.TensorShapeProto.Dimension.create({ dimParam: d }),
    ),
  });
}

/** A new graph input or output declaration. */
export function valueInfo(name: string, elemType: number, dims: Array<number | string>): ValueInfo {
  const info = onnx.ValueInfoProto.create({
    name,
    type: onnx.TypeProto.create({ tensorType: onnx.TypeProto.Tensor.create({ elemType }) }),
  });
  setDims(info, dims);
  return info as ValueInfo;
}

/** The graph input or output of that name; a GraphEditError when absent. */
export function graphValue(model: Model, kind: 'input' | 'output', name: string): ValueInfo {
  const list = kind === 'input' ? graphOf(model).input : graphOf(model).output;
  const found = list.find((v) => v.name === name);
  if (!found) {
    throw new GraphEditError(
      `expected a graph ${kind} '${name}', the graph has ${list.map((v) => v.name).join(', ') || 'none'}`,
    );
  }
  return found;
}

/** Renames a tensor everywhere: node inputs and outputs, graph inputs and outputs, value infos. */
export function renameTensor(model: Model, from: string, to: string): void {
  const g = graphOf(model);
  for (const n of g.node) {
    n.input = n.input.map((i) => (i === from ? to : i));
    n.output = n.output.map((o) => (o === from ? to : o));
  }
  for (const v of [...g.input, ...g.output, ...g.valueInfo]) if (v.name === from) v.name = to;
}

/**
 * Removes nodes whose outputs nothing needs (graph outputs are the roots), then initializers and value infos
 * no node uses any more. Returns how many nodes were removed.
 */
export function pruneDeadNodes(model: Model): number {
  const g = graphOf(model);
  const needed = new Set(g.output.map((o) => o.name));
  const keep = new Array<boolean>(g.node.length).fill(false);
  // Nodes are topologically sorted in a valid graph: one backward sweep finds every live node.
  for (let i = g.node.length - 1; i >= 0; i--) {
    const n = g.node[i];
    if (n.output.some((o) => needed.has(o))) {
      keep[i] = true;
      for (const input of n.input) if (input) needed.add(input);
    }
  }
  const before = g.node.length;
  g.node = g.node.filter((_, i) => keep[i]);
  g.initializer = g.initializer.filter((t) => needed.has(t.name));
  g.valueInfo = g.valueInfo.filter((v) => needed.has(v.name));
  return before - g.node.length;
}

/** Sets (replacing) one metadata_props entry of a model. */
export function setMetadata(model: Model, key: string, value: string): void {
  model.metadataProps = model.metadataProps.filter((p) => p.key !== key);
  model.metadataProps.push(onnx.StringStringEntryProto.create({ key, value }));
}
