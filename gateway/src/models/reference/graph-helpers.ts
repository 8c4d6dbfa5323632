/** Small helpers over {@link GraphBuilder} that keep the reference model graphs readable. */
import type { GraphBuilder } from '../onnx-builder.ts';
import { OnnxType } from '../onnx-builder.ts';

/** A GraphBuilder with shorthand for the elementwise and constant ops the reference models use. */
export class Ops {
  constructor(readonly g: GraphBuilder) {}

  /** A float32 constant (scalar when `dims` is []). */
  f(values: number | number[], dims?: number[]): string {
    const arr = typeof values === 'number' ? [values] : values;
    return this.g.constF(arr, dims ?? (typeof values === 'number' ? [] : [arr.length]));
  }

  /** An int64 constant (scalar when `dims` is []). */
  i(values: number | number[], dims?: number[]): string {
    const arr = typeof values === 'number' ? [values] : values;
    return this.g.constI64(arr, dims ?? (typeof values === 'number' ? [] : [arr.length]));
  }

  add(a: string, b: string): string {
    return this.g.op1('Add', [a, b]);
  }
  sub(a: string, b: string): string {
    return this.g.op1('Sub', [a, b]);
  }
  mul(a: string, b: string): string {
    return this.g.op1('Mul', [a, b]);
  }
  div(a: string, b: string): string {
    return this.g.op1('Div', [a, b]);
  }
  max(a: string, b: string): string {
    return this.g.op1('Max', [a, b]);
  }
  min(a: string, b: string): string {
    return this.g.op1('Min', [a, b]);
  }
  abs(a: string): string {
    return this.g.op1('Abs', [a]);
  }
  sqrt(a: string): string {
    return this.g.op1('Sqrt', [a]);
  }
  floor(a: string): string {
    return this.g.op1('Floor', [a]);
  }
  /** 1 - a. */
  not(a: string): string {
    return this.sub(this.f(1), a);
  }
  /** A comparison as float 0/1. */
  cmp(op: 'Less' | 'Greater' | 'Equal' | 'LessOrEqual' | 'GreaterOrEqual', a: string, b: string): string {
    return this.g.op1('Cast', [this.g.op1(op, [a, b])], { to: OnnxType.FLOAT });
  }
  /** Sum over `axes`, all axes when empty (opset 13+: axes as an input). */
  sum(a: string, axes: number[], keepdims = 1): string {
    return this.g.op1('ReduceSum', axes.length > 0 ? [a, this.i(axes)] : [a], { keepdims });
  }
  /** Max over `axes` (opset ≤ 17: axes as an attribute). */
  rmax(a: string, axes: number[], keepdims = 1): string {
    return this.g.op1('ReduceMax', [a], { axes, keepdims });
  }
  rmin(a: string, axes: number[], keepdims = 1): string {
    return this.g.op1('ReduceMin', [a], { axes, keepdims });
  }
  unsqueeze(a: string, axes: number[]): string {
    return this.g.op1('Unsqueeze', [a, this.i(axes)]);
  }
  /** Gathers index `index` along `axis` (drops that axis). */
  pick(a: string, index: number, axis: number): string {
    return this.g.op1('Gather', [a, this.i(index)], { axis });
  }
  /** k x k max filter, stride 1, same size. */
  maxFilter(a: string, k: number): string {
    const p = (k - 1) / 2;
    return this.g.op1('MaxPool', [a], { kernel_shape: [k, k], pads: [p, p, p, p], strides: [1, 1] });
  }
  /** Weighted mean of `x` over the spatial axes with weights `w`: sum(x w) / (sum(w) + eps). */
  wmean(x: string, w: string, eps = 1e-3): string {
    return this.div(this.sum(this.mul(x, w), [2, 3]), this.add(this.sum(w, [2, 3]), this.f(eps)));
  }
}

/** A normalized 1-D Gaussian kernel of radius `r` and standard deviation `sigma` (samples). */
export function gaussianKernel(sigma: number, r: number): number[] {
  const k: number[] = [];
  for (let i = -r; i <= r; i++) k.push(Math.exp(-(i * i) / (2 * sigma * sigma)));
  const s = k.reduce((a, b) => a + b, 0);
  return k.map((v) => v / s);
}
