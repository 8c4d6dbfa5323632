/**
 * The reference SAM mask decoder: the official decoder interface (`segment_anything/utils/onnx.py`
 * SamOnnxModel, multimask: 4 outputs) with a classical promptable segmenter inside, working on a G x G grid
 * (G = 256, the low-res mask grid; one cell = 4 pixels of the 1024 frame).
 *
 * Algorithm:
 * 1. Intensity: DepthToSpace(16) of the embedding gives the 1024 grey image; a 4x4 average gives the grid
 *    image, smoothed by a Gaussian (sigma 1 cell) normalized over the valid (pre-padding) region V.
 * 2. Reference grey mu: with a box, the (once trimmed) mean of a band just outside the box; otherwise the
 *    mean of a window (half the frame) around the positive points.
 * 3. Allowed set of candidate k (k = 0..3): with positive points, pixels whose grey is within
 *    f_k * max(|v_j - mu|, 10) of some positive point's grey v_j, f = (0.3, 0.45, 0.6, 0.8); with a box and
 *    no positive point, pixels differing from mu by more than b_k * (the largest difference in the box),
 *    b = (0.2, 0.3, 0.45, 0.6), and by more than 2.5 noise sigmas of the band. Always restricted to V and the
 *    box (plus one cell). A mask_input prior (logits > 0, when has_mask_input = 1) is added to the set.
 * 4. Growth: positive seeds (the points' cells; with a box only, the whole allowed set) and negative seeds
 *    grow together by constrained 3x3 dilation inside the allowed set, in a Loop that stops when nothing
 *    changes (at most 2 * MAX_ITERATIONS steps); a cell claimed by one side first is never taken by the
 *    other, so a negative click on a leaked region cuts it off at the geodesic midpoint.
 * 5. Logits: 16 * (3x3 box average of the region - 0.5): +8 inside, -8 outside, +-2.7 at the border, so
 *    thresholding at 0 and bilinear upsampling give the border half-way between cells.
 * 6. iou_predictions: c / (c + 1) * (1 - area / |V|), c = |m_in - m_out| / (s_in + s_out + 2), where m and s
 *    are the grey mean and standard deviation of the 2-cell bands inside and outside the region's border
 *    (a candidate that fits an object has a sharp contrast across its border; a partial one or a leak does
 *    not); 0 for an empty region.
 * 7. masks: the low-res logits upscaled to 1024 (bilinear, half_pixel), cropped to the pre-padding size
 *    computed from orig_im_size as SAM does, then resized to orig_im_size (of batch item 0).
 */
import { GraphBuilder, OnnxType, serializeModel } from '../onnx-builder.ts';
import { REFERENCE_OPSET, REFERENCE_PRODUCER, REFERENCE_VERSION } from './encoder.ts';
import { gaussianKernel, Ops } from './graph-helpers.ts';

/** Grid size of the segmenter and of low_res_masks (cells). */
const G = 256;
/** 1024-frame pixels per grid cell. */
const F = 1024 / G;
/** Loop trip count; each iteration makes 2 dilation steps. */
const MAX_ITERATIONS = 192;
const POINT_TOLERANCES = [0.3, 0.45, 0.6, 0.8];
const BOX_THRESHOLDS = [0.2, 0.3, 0.45, 0.6];
const LOGIT_GAIN = 16;

/** Builds the reference decoder model bytes. */
export function buildReferenceDecoder(): Uint8Array {
  const g = new GraphBuilder('sam_reference_decoder');
  const o = new Ops(g);
  const emb = g.input('image_embeddings', OnnxType.FLOAT, ['batch', 256, 64, 64]);
  const pc = g.input('point_coords', OnnxType.FLOAT, ['batch', 'points', 2]);
  const pl = g.input('point_labels', OnnxType.FLOAT, ['batch', 'points']);
  const mi = g.input('mask_input', OnnxType.FLOAT, ['batch', 1, 256, 256]);
  const hmi = g.input('has_mask_input', OnnxType.FLOAT, ['batch', 1]);
  const ois = g.input('orig_im_size', OnnxType.FLOAT, ['batch', 2]);

  // 1. Grid intensity and the valid region.
  const full = g.op1('DepthToSpace', [emb], { blocksize: 16, mode: 'DCR' });
  const grid = g.op1('AveragePool', [full], { kernel_shape: [F, F], strides: [F, F] });
  const hw = o.pick(ois, 0, 0);
  const scale = o.div(o.f(1024), o.rmax(hw, [0], 0));
  const newHW = o.floor(o.add(o.mul(hw, scale), o.f(0.5)));
  const centres = Array.from({ length: G }, (_, i) => (i + 0.5) * F);
  const rowV = o.cmp('Less', o.f(centres, [G, 1]), o.pick(newHW, 0, 0));
  const colV = o.cmp('Less', o.f(centres, [1, G]), o.pick(newHW, 1, 0));
  const valid = g.op1('Reshape', [o.mul(rowV, colV), o.i([1, 1, G, G])]);
  const k = gaussianKernel(1, 2);
  const kernel2d = k.flatMap((a) => k.map((b) => a * b));
  const gauss = (v: string) => g.op1('Conv', [v, o.f(kernel2d, [1, 1, 5, 5])], { pads: [2, 2, 2, 2] });
  const smooth = o.mul(o.div(gauss(o.mul(grid, valid)), o.add(gauss(valid), o.f(1e-6))), valid);

  // 2. Prompts.
  const xs = o.pick(pc, 0, 2);
  const ys = o.pick(pc, 1, 2);
  const toCell = (v: string) => g.op1('Clip', [o.floor(o.mul(v, o.f(1 / F))), o.f(0), o.f(G - 1)]);
  const idx = Array.from({ length: G }, (_, i) => i);
  const onX = o.cmp('Equal', o.unsqueeze(toCell(xs), [2, 3]), o.f(idx, [1, 1, 1, G]));
  const onY = o.cmp('Equal', o.unsqueeze(toCell(ys), [2, 3]), o.f(idx, [1, 1, G, 1]));
  const onehot = o.mul(onY, onX); // [B,N,G,G]
  const label = (value: number) => o.cmp('Equal', pl, o.f(value));
  const isPos = label(1);
  const isNeg = label(0);
  const isTL = label(2);
  const isBR = label(3);
  const posMap = o.rmax(o.mul(onehot, o.unsqueeze(isPos, [2, 3])), [1]);
  const negMap = o.rmax(o.mul(onehot, o.unsqueeze(isNeg, [2, 3])), [1]);
  const hasPos = o.unsqueeze(o.rmax(isPos, [1]), [2, 3]); // [B,1,1,1]
  const hasBox = o.unsqueeze(o.mul(o.rmax(isTL, [1]), o.rmax(isBR, [1])), [2, 3]);
  const pointValues = o.sum(o.mul(onehot, smooth), [2, 3]); // [B,N,1,1]

  // Box corners in the 1024 frame, [B,1,1,1] each (the mean if several corners were given).
  const corner = (coords: string, which: string) =>
    o.unsqueeze(o.div(o.sum(o.mul(coords, which), [1]), o.max(o.sum(which, [1]), o.f(1))), [2, 3]);
  const x0 = corner(xs, isTL);
  const y0 = corner(ys, isTL);
  const x1 = corner(xs, isBR);
  const y1 = corner(ys, isBR);
  const colC = o.f(centres, [1, 1, 1, G]);
  const rowC = o.f(centres, [1, 1, G, 1]);
  const rect = (l: string, t: string, r: string, b: string) =>
    o.mul(
      o.mul(o.cmp('GreaterOrEqual', rowC, t), o.cmp('LessOrEqual', rowC, b)),
      o.mul(o.cmp('GreaterOrEqual', colC, l), o.cmp('LessOrEqual', colC, r)),
    );
  const margin = o.f(F);
  const boxTight = rect(x0, y0, x1, y1);
  const boxLoose = rect(o.sub(x0, margin), o.sub(y0, margin), o.add(x1, margin), o.add(y1, margin));
  const ex = o.max(o.mul(o.sub(x1, x0), o.f(0.15)), o.f(3 * F));
  const ey = o.max(o.mul(o.sub(y1, y0), o.f(0.15)), o.f(3 * F));
  const outer = rect(o.sub(x0, ex), o.sub(y0, ey), o.add(x1, ex), o.add(y1, ey));
  const band = o.mul(o.mul(outer, o.not(boxTight)), valid);
  const stats = (w: string) => {
    const mean = o.wmean(smooth, w);
    const sq = o.wmean(o.mul(smooth, smooth), w);
    const sd = o.sqrt(o.max(o.sub(sq, o.mul(mean, mean)), o.f(0)));
    return { mean, sd };
  };
  const band0 = stats(band);
  const bandKeep = o.cmp(
    'LessOrEqual',
    o.abs(o.sub(smooth, band0.mean)),
    o.add(o.mul(band0.sd, o.f(1.5)), o.f(2)),
  );
  const bandStats = stats(o.mul(band, bandKeep));

  // Window around the positive points (no box): the point prompt's reference grey.
  const nPos = o.max(o.sum(isPos, [1]), o.f(1));
  const cx = o.unsqueeze(o.div(o.sum(o.mul(xs, isPos), [1]), nPos), [2, 3]);
  const cy = o.unsqueeze(o.div(o.sum(o.mul(ys, isPos), [1]), nPos), [2, 3]);
  const half = o.f(256);
  const win = o.mul(rect(o.sub(cx, half), o.sub(cy, half), o.add(cx, half), o.add(cy, half)), valid);
  const winMean = o.wmean(smooth, win);
  const ref = o.add(o.mul(hasBox, bandStats.mean), o.mul(o.not(hasBox), winMean)); // [B,1,1,1]

  // 3. Allowed sets, [B,4,G,G].
  const spread = o.max(o.abs(o.sub(pointValues, ref)), o.f(10)); // [B,N,1,1]
  const ratio = o.div(o.abs(o.sub(smooth, pointValues)), spread); // [B,N,G,G]
  const masked = o.add(ratio, o.mul(o.not(o.unsqueeze(isPos, [2, 3])), o.f(1e6)));
  const nearest = o.rmin(masked, [1]);
  const allowPoints = o.cmp('Less', nearest, o.f(POINT_TOLERANCES, [1, 4, 1, 1]));
  const dev = o.abs(o.sub(smooth, bandStats.mean));
  const peak = o.max(o.rmax(o.mul(o.mul(dev, boxTight), valid), [2, 3]), o.f(1));
  const allowBox = o.mul(
    o.cmp('Greater', o.div(dev, peak), o.f(BOX_THRESHOLDS, [1, 4, 1, 1])),
    o.cmp('Greater', dev, o.mul(bandStats.sd, o.f(2.5))),
  );
  const region = o.mul(o.add(o.mul(hasBox, boxLoose), o.not(hasBox)), valid);
  const allowRaw = o.add(o.mul(hasPos, allowPoints), o.mul(o.not(hasPos), allowBox));
  const prior = o.mul(o.cmp('Greater', mi, o.f(0)), o.unsqueeze(hmi, [2, 3]));
  const allow = o.mul(o.max(allowRaw, prior), region);

  // 4. Competitive geodesic growth.
  const posSeed = o.add(o.mul(posMap, hasPos), o.mul(allow, o.not(hasPos)));
  const ones4 = o.f([1, 1, 1, 1], [1, 4, 1, 1]);
  const pos0 = o.mul(o.mul(posSeed, ones4), region);
  const neg0 = o.mul(o.mul(o.mul(negMap, o.not(posMap)), ones4), region);

  const body = new GraphBuilder('grow', 'grow_');
  const bo = new Ops(body);
  body.input('grow_iter', OnnxType.INT64, []);
  body.input('grow_cond', OnnxType.BOOL, []);
  const pIn = body.input('grow_p', OnnxType.FLOAT);
  const nIn = body.input('grow_n', OnnxType.FLOAT);
  let p = pIn;
  let n = nIn;
  for (let step = 0; step < 2; step++) {
    const pNext = bo.max(p, bo.mul(bo.mul(bo.maxFilter(p, 3), allow), bo.not(n)));
    const nNext = bo.max(n, bo.mul(bo.mul(bo.maxFilter(n, 3), allow), bo.not(pNext)));
    p = pNext;
    n = nNext;
  }
  const gained = bo.sub(bo.add(p, n), bo.add(pIn, nIn));
  body.op1('Greater', [body.op1('ReduceSum', [gained], { keepdims: 0 }), bo.f(0)], {}, 'grow_cond_out');
  body.op1('Identity', [p], {}, 'grow_p_out');
  body.op1('Identity', [n], {}, 'grow_n_out');
  body.output('grow_cond_out', OnnxType.BOOL, []);
  body.output('grow_p_out', OnnxType.FLOAT);
  body.output('grow_n_out', OnnxType.FLOAT);
  const [grown] = g.op(
    'Loop',
    [o.i(MAX_ITERATIONS), g.constBool([true], []), pos0, neg0],
    { body: { graph: body.toGraphProto() } },
    2,
  );

  // 5. Low-res logits.
  const soft = g.op1('AveragePool', [grown], {
    kernel_shape: [3, 3],
    pads: [1, 1, 1, 1],
    strides: [1, 1],
    count_include_pad: 1,
  });
  g.op1('Mul', [o.sub(soft, o.f(0.5)), o.f(LOGIT_GAIN)], {}, 'low_res_masks');

  // 6. Scores.
  const eroded = o.not(o.maxFilter(o.not(grown), 5));
  const dilated = o.maxFilter(grown, 5);
  const inner = o.sub(grown, eroded);
  const outerBand = o.mul(o.sub(dilated, grown), valid);
  const sIn = stats(inner);
  const sOut = stats(outerBand);
  const contrast = o.div(o.abs(o.sub(sIn.mean, sOut.mean)), o.add(o.add(sIn.sd, sOut.sd), o.f(2)));
  const area = o.sum(grown, [2, 3]);
  const areaFrac = o.div(area, o.add(o.sum(valid, [2, 3]), o.f(1)));
  const score = o.mul(
    o.mul(o.div(contrast, o.add(contrast, o.f(1))), o.not(areaFrac)),
    o.cmp('Greater', area, o.f(0)),
  );
  g.op1('Reshape', [score, o.i([0, 4])], {}, 'iou_predictions');

  // 7. Masks at the original size.
  const lead = g.op1('Concat', [g.op1('Slice', [g.op1('Shape', [emb]), o.i([0]), o.i([1])]), o.i([4])], {
    axis: 0,
  });
  const up = g.op1(
    'Resize',
    ['low_res_masks', '', '', g.op1('Concat', [lead, o.i([1024, 1024])], { axis: 0 })],
    {
      mode: 'linear',
      coordinate_transformation_mode: 'half_pixel',
    },
  );
  const cropped = g.op1('Slice', [
    up,
    o.i([0, 0]),
    g.op1('Cast', [newHW], { to: OnnxType.INT64 }),
    o.i([2, 3]),
  ]);
  const origSize = g.op1('Cast', [hw], { to: OnnxType.INT64 });
  g.op1(
    'Resize',
    [cropped, '', '', g.op1('Concat', [lead, origSize], { axis: 0 })],
    { mode: 'linear', coordinate_transformation_mode: 'half_pixel' },
    'masks',
  );

  g.output('masks', OnnxType.FLOAT, ['batch', 4, 'height', 'width']);
  g.output('iou_predictions', OnnxType.FLOAT, ['batch', 4]);
  g.output('low_res_masks', OnnxType.FLOAT, ['batch', 4, 256, 256]);
  return serializeModel(g, {
    opset: REFERENCE_OPSET,
    producerName: REFERENCE_PRODUCER,
    producerVersion: REFERENCE_VERSION,
    docString:
      'Reference SAM decoder (classical promptable segmenter: intensity-constrained competitive geodesic growth). Official SAM decoder I/O, 4 masks.',
    metadata: { 'sam.multimask': '4', 'sam.mask_input_size': '256' },
  });
}
