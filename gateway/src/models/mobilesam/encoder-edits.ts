/**
 * Edits of a SAM image encoder with one image input [B,3,S,S] and one embedding output [B,C,E,E]:
 * give the tensors the official interface's names with the batch fixed at one (the published graph reshapes
 * with a constant batch of one inside, so a larger batch fails), and derive a variant that takes the image as
 * uint8 [H,W,3] and does SAM's preprocessing in the graph (resize of the longest side to S with
 * `newH = floor(H * S / max(H, W) + 0.5)`, bilinear, rounded to 8 bits; ImageNet normalization; zero
 * padding bottom/right): the `sam_hwc` contract, so the gateway sends the image's bytes instead of 12 MiB of
 * float32. Reference: segment_anything/utils/transforms.py (ResizeLongestSide), modeling/sam.py (preprocess).
 */
import {
  graphOf,
  defaultOpset,
  floatTensor,
  GraphEditError,
  graphValue,
  int64Tensor,
  node,
  renameTensor,
  setDims,
  valueInfo,
  type Model,
} from '../onnx-graph.ts';

/** Names of the derived encoder's tensors. */
export const ENCODER_IMAGE = 'image';
/** Name of the embedding output of both encoder variants. */
export const ENCODER_EMBEDDINGS = 'image_embeddings';

interface EncoderShape {
  /** Side S of the square model input (pixels). */
  inputSize: number;
  /** Embedding [C, E, E]. */
  embedding: [number, number, number];
}

function fixedDim(model: Model, kind: 'input' | 'output', name: string, rank: number): number[] {
  const v = graphValue(model, kind, name);
  const dims = v.type?.tensorType?.shape?.dim ?? [];
  if (dims.length !== rank) {
    throw new GraphEditError(
      `expected the encoder ${kind} ${name} to have rank ${rank}, found ${dims.length}`,
    );
  }
  return dims.map((d) => (d.dimParam ? -1 : Number(d.dimValue)));
}

/**
 * Renames the encoder's single input to `image` and its single output to `image_embeddings`, and declares
 * the batch as 1. Returns the input side and embedding shape it read.
 */
export function officialEncoderInterface(model: Model): EncoderShape {
  const g = graphOf(model);
  const initializers = new Set(g.initializer.map((t) => t.name));
  const inputs = g.input.filter((i) => !initializers.has(i.name));
  if (inputs.length !== 1 || g.output.length !== 1) {
    throw new GraphEditError(
      `expected an encoder with one image input and one embedding output, found ${inputs.length} inputs and ${g.output.length} outputs`,
    );
  }
  const [, c, h, w] = fixedDim(model, 'input', inputs[0].name, 4);
  const [, ec, eh, ew] = fixedDim(model, 'output', g.output[0].name, 4);
  if (c !== 3 || h !== w || h <= 0) {
    throw new GraphEditError(`expected the encoder input to be [B,3,S,S], found [B,${c},${h},${w}]`);
  }
  if (eh !== ew || ec <= 0 || eh <= 0) {
    throw new GraphEditError(`expected the encoder output to be [B,C,E,E], found [B,${ec},${eh},${ew}]`);
  }
  if (inputs[0].name !== ENCODER_IMAGE) renameTensor(model, inputs[0].name, ENCODER_IMAGE);
  if (g.output[0].name !== ENCODER_EMBEDDINGS) renameTensor(model, g.output[0].name, ENCODER_EMBEDDINGS);
  setDims(graphValue(model, 'input', ENCODER_IMAGE), [1, 3, h, h]);
  setDims(graphValue(model, 'output', ENCODER_EMBEDDINGS), [1, ec, eh, ew]);
  return { inputSize: h, embedding: [ec, eh, ew] };
}

/** Pixel statistics of the normalization on the 0-255 scale, per channel (R, G, B). */
export interface Normalization {
  mean: [number, number, number];
  std: [number, number, number];
}

/**
 * Puts SAM's preprocessing in front of an encoder that already has the official interface (see
 * {@link officialEncoderInterface}): the new input `image` is uint8 [H, W, 3] (RGB). Needs opset 11 or later
 * (Resize with `sizes`); written with opset-11-to-12 operator forms (attribute `axes`).
 */
export function preprocessingInGraph(model: Model, inputSize: number, norm: Normalization): void {
  const opset = defaultOpset(model);
  if (opset < 11 || opset > 12) {
    throw new GraphEditError(
      `expected an encoder of opset 11 or 12 (the preprocessing uses their operator forms), found opset ${opset}`,
    );
  }
  const g = graphOf(model);
  const p = 'medseg/preprocess/';
  const t = (s: string) => `${p}${s}`;
  // The original float input becomes an internal tensor computed from the uint8 image.
  renameTensor(model, ENCODER_IMAGE, t('normalized'));
  g.input = g.input.filter((i) => i.name !== t('normalized'));
  g.input.unshift(valueInfo(ENCODER_IMAGE, 2, ['height', 'width', 3]));
  const c = (name: string, tensor: ReturnType<typeof int64Tensor>) =>
    node('Constant', t(name), [], [t(name)], { value: tensor });
  const nodes = [
    c('k_start', int64Tensor('', [1], [0])),
    c('k_end', int64Tensor('', [1], [2])),
    c('k_lead', int64Tensor('', [2], [1, 3])),
    c('k_zero4', int64Tensor('', [4], [0, 0, 0, 0])),
    c('k_side', floatTensor('', [], [inputSize])),
    c('k_half', floatTensor('', [], [0.5])),
    c('k_side_i', int64Tensor('', [2], [inputSize, inputSize])),
    c('k_lo', floatTensor('', [], [0])),
    // Opsets 11-12 require Resize's roi and scales inputs; empty tensors mean "use sizes".
    c('k_empty', floatTensor('', [0], [])),
    c('k_hi', floatTensor('', [], [255])),
    c('k_mean', floatTensor('', [1, 3, 1, 1], norm.mean)),
    c('k_std', floatTensor('', [1, 3, 1, 1], norm.std)),
    // [H, W] as floats and the longest side.
    node('Shape', t('shape'), [ENCODER_IMAGE], [t('shape')]),
    node('Slice', t('hw'), [t('shape'), t('k_start'), t('k_end')], [t('hw')]),
    node('Cast', t('hw_f'), [t('hw')], [t('hw_f')], { to: 1 }),
    node('ReduceMax', t('longest'), [t('hw_f')], [t('longest')], { keepdims: 0 }),
    // newH, newW = floor(h * S / max + 0.5), as ResizeLongestSide.get_preprocess_shape.
    node('Div', t('scale'), [t('k_side'), t('longest')], [t('scale')]),
    node('Mul', t('scaled'), [t('hw_f'), t('scale')], [t('scaled')]),
    node('Add', t('rounded_up'), [t('scaled'), t('k_half')], [t('rounded_up')]),
    node('Floor', t('new_hw_f'), [t('rounded_up')], [t('new_hw_f')]),
    node('Cast', t('new_hw'), [t('new_hw_f')], [t('new_hw')], { to: 7 }),
    node('Concat', t('sizes'), [t('k_lead'), t('new_hw')], [t('sizes')], { axis: 0 }),
    // uint8 HWC -> float NCHW.
    node('Cast', t('float'), [ENCODER_IMAGE], [t('float')], { to: 1 }),
    node('Transpose', t('chw'), [t('float')], [t('chw')], { perm: [2, 0, 1] }),
    node('Unsqueeze', t('nchw'), [t('chw')], [t('nchw')], { axes: [0] }),
    // Bilinear with pixel centres at +0.5 (PIL's bilinear when enlarging), back to 8 bits as PIL returns.
    node('Resize', t('resized'), [t('nchw'), t('k_empty'), t('k_empty'), t('sizes')], [t('resized')], {
      mode: 'linear',
      coordinate_transformation_mode: 'half_pixel',
    }),
    node('Clip', t('clipped'), [t('resized'), t('k_lo'), t('k_hi')], [t('clipped')]),
    node('Round', t('rounded'), [t('clipped')], [t('rounded')]),
    node('Sub', t('centred'), [t('rounded'), t('k_mean')], [t('centred')]),
    node('Div', t('scaled_px'), [t('centred'), t('k_std')], [t('scaled_px')]),
    // Zero padding bottom/right up to S x S (pads: begin of N, C, H, W then end of N, C, H, W).
    node('Sub', t('pad_hw'), [t('k_side_i'), t('new_hw')], [t('pad_hw')]),
    node('Concat', t('pads'), [t('k_zero4'), t('k_start'), t('k_start'), t('pad_hw')], [t('pads')], {
      axis: 0,
    }),
    node('Pad', t('normalized'), [t('scaled_px'), t('pads')], [t('normalized')], {}),
  ];
  g.node.unshift(...nodes);
}
