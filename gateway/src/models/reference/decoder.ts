/**
 * The reference SAM mask decoder: the official decoder interface (`segment_anything/utils/onnx.py`
 * SamOnnxModel, multimask: 4 outputs) with a classical promptable segmenter inside, working on a G x G grid
 * (G = 256, the low-res mask grid; one cell = 4 pixels of the 1024 frame).
 *
 * Algorithm:
 * 1. Intensity: DepthToSpace(16) of the embedding gives the 1024 grey image; a 4x4 average gives the grid
 *    image S, smoothed by a Gaussian (sigma 1 cell) normalized over the valid (pre-padding) region V, which
 *    comes from orig_im_size exactly as SAM computes the pre-padding size.
 * 2. Reference grey mu: with a box, the (once trimmed) mean of a band just outside the box (15% of its size,
 *    at least 3 cells); otherwise the mean of a window (half the frame) around the positive points.
 * 3. Allowed set of candidate k (k = 0..3), restricted to V and to the box (plus one cell):
 *    - positive points: cells whose grey is within f_k * max(|v_j - mu|, 10) of the grey v_j of some
 *      positive point j, f = (0.35, 0.55, 0.8, 1.1); only points with a homogeneous 5x5 neighbourhood
 *      (local SD < 0.1 * contrast + 2) set the grey model when there are such points (points on a border
 *      have a mixed grey and would leak); with several positive points, f = (0.55, 0.8, 0.55, 0.8) where
 *      candidates 0-1 use the first positive point's grey alone (a later point on a differently grey
 *      structure would open the region to it) and 2-3 the union of the points' greys;
 *    - a box without points: candidates 0-1 are the cells differing from mu by more than (0.3, 0.45) of
 *      the largest difference inside the box and by more than 2.5 band noise SDs (a ring, whose centre is
 *      background, comes out whole); candidates 2-3 use the point rule from the box centre, f = (0.55, 0.8);
 *    - mask_input logits > 0 (when has_mask_input = 1) are added to every allowed set (a prior: the last
 *      mask is kept reachable, one more click refines it).
 * 4. Growth: positive seeds (the positive points' cells; box only: the allowed set for candidates 0-1, the
 *    box centre for 2-3) and negative seeds grow together by constrained 3x3 dilation inside the allowed set
 *    on a 128 x 128 grid (a coarse cell is passable when at least half its 4 cells are), in a Loop that stops
 *    when nothing changes (at most 2 * MAX_ITERATIONS steps); a cell claimed by one side first is never
 *    taken by the other, so a negative click on a leaked region cuts it off at the geodesic midpoint. An If
 *    runs the cheaper positive-only loop when no negative point is given. Two constrained dilations on the
 *    256 grid, bounded by the coarse region grown by one cell, then restore the fine border.
 *    Limitation: with a box and no positive point, candidates 0-1 are seeded with their whole allowed set,
 *    so negative points cannot cut them (they still compete in candidates 2-3).
 * 5. Logits: 40 * (3x3 box average of the region - 0.5): +20 inside, -20 outside, +-6.7 at the border, so
 *    thresholding at 0 and bilinear upsampling put the border half-way between cells, and the band between
 *    the +-1 thresholds of SAM's stability score is under a fifth of a cell wide.
 * 6. iou_predictions = 1 - exp(-s / 0.23), a monotone calibration of the score
 *    s = c/(c+1) * e/(e+1) * (1 - area/|V|) * fit (0 for an empty region), where
 *    c = |m_in - m_out| / (s_in + s_out + 2) is the contrast of the grey means m and SDs s in the 2-cell
 *    bands inside and outside the region's border, e = mean gradient magnitude of S on the border band
 *    divided by (its mean over V + 0.5), and fit = (share of the box's rows covered * share of its columns
 *    covered)^2 with a box, 1 without. A candidate that fits an object has a sharp, contrasted border
 *    (and fills its box); a partial region or a leak does not. On the phantoms and the real samples, s >= 0.5
 *    went with Dice > 0.9, hence the calibration: s = 0.5 maps to 0.886, just above SAM's everything-mode
 *    pred_iou_thresh (0.88), s = 0.25 to 0.66, s = 0.1 to 0.35.
 * 7. masks: the low-res logits upscaled to 1024 (bilinear, half_pixel), cropped to the pre-padding size
 *    computed from orig_im_size as SAM does, then resized to orig_im_size (of batch item 0); done one
 *    axis at a time (bilinear resizing is separable).
 */
import { GraphBuilder, OnnxType, serializeModel } from '../onnx-builder.ts';
import { REFERENCE_OPSET, REFERENCE_PRODUCER, REFERENCE_VERSION } from './encoder.ts';
import { gaussianKernel, Ops } from './graph-helpers.ts';

/** Grid size of the segmenter and of low_res_masks (cells). */
const G = 256;
/** 1024-frame pixels per grid cell. */
const F = 1024 / G;
/** Loop trip count; each iteration makes 2 dilation steps. */
const MAX_ITERATIONS = 96;
const POINT_TOLERANCES = [0.35, 0.55, 0.8, 1.1];
const MULTI_POINT_TOLERANCES = [0.55, 0.8, 0.55, 0.8];
const BOX_THRESHOLDS = [0.3, 0.45, 0, 0];
/** A positive point sets the grey model when its local SD is under INTERIOR_SD * its contrast + 2. */
const INTERIOR_SD = 0.1;
const CENTRE_TOLERANCES = [0, 0, 0.55, 0.8];
/** Logit gain: steep enough that SAM's stability score (IoU of logits > 1 vs > -1) stays near 1. */
const LOGIT_GAIN = 40;
/** Calibration scale of iou_predictions = 1 - exp(-s / IOU_SCALE). */
const IOU_SCALE = 0.23;

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
  // One padding point is appended so every reduction over points sees at least one (N = 0 is legal input).
  const batchDim = g.op1('Slice', [g.op1('Shape', [pc]), o.i([0]), o.i([1])]);
  const padCoords = g.op1('Expand', [
    o.f([0, 0], [1, 1, 2]),
    g.op1('Concat', [batchDim, o.i([1, 2])], { axis: 0 }),
  ]);
  const padLabels = g.op1('Expand', [o.f([-1], [1, 1]), g.op1('Concat', [batchDim, o.i([1])], { axis: 0 })]);
  const coords = g.op1('Concat', [pc, padCoords], { axis: 1 });
  const labels = g.op1('Concat', [pl, padLabels], { axis: 1 });
  const xs = o.pick(coords, 0, 2);
  const ys = o.pick(coords, 1, 2);
  const toCell = (v: string) => g.op1('Clip', [o.floor(o.mul(v, o.f(1 / F))), o.f(0), o.f(G - 1)]);
  const idx = Array.from({ length: G }, (_, i) => i);
  const onX = o.cmp('Equal', o.unsqueeze(toCell(xs), [2, 3]), o.f(idx, [1, 1, 1, G]));
  const onY = o.cmp('Equal', o.unsqueeze(toCell(ys), [2, 3]), o.f(idx, [1, 1, G, 1]));
  const onehot = o.mul(onY, onX); // [B,N,G,G]
  const label = (value: number) => o.cmp('Equal', labels, o.f(value));
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

  // 3. Allowed sets, [B,4,G,G]. A positive point on an object's border has a mixed grey and a high local
  // spread; such points still seed the growth but only set the grey model when no interior point exists.
  const spread = o.max(o.abs(o.sub(pointValues, ref)), o.f(10)); // [B,N,1,1]
  const box5 = (v: string) =>
    g.op1('AveragePool', [v], {
      kernel_shape: [5, 5],
      pads: [2, 2, 2, 2],
      strides: [1, 1],
      count_include_pad: 0,
    });
  const localMean = box5(smooth);
  const localVar = o.max(o.sub(box5(o.mul(smooth, smooth)), o.mul(localMean, localMean)), o.f(0));
  const pointSd = o.sqrt(o.sum(o.mul(onehot, localVar), [2, 3])); // [B,N,1,1]
  const posN = o.unsqueeze(isPos, [2, 3]);
  const interior = o.mul(posN, o.cmp('Less', pointSd, o.add(o.mul(spread, o.f(INTERIOR_SD)), o.f(2))));
  const anyInterior = o.rmax(interior, [1]);
  const model = o.add(o.mul(interior, anyInterior), o.mul(posN, o.not(anyInterior)));
  const ratio = o.div(o.abs(o.sub(smooth, pointValues)), spread); // [B,N,G,G]
  const masked = o.add(ratio, o.mul(o.not(model), o.f(1e6)));
  const nearest = o.rmin(masked, [1]);
  // Several positive points: candidates 0-1 take the grey model of the first positive point alone (a
  // later point on a differently grey structure would otherwise open the region to it), 2-3 the union.
  const firstPos = o.mul(posN, o.cmp('Equal', g.op1('CumSum', [posN, o.i(1)]), o.f(1)));
  const nearestFirst = o.rmin(o.add(ratio, o.mul(o.not(firstPos), o.f(1e6))), [1]);
  const multi = o.cmp('Greater', o.sum(posN, [1]), o.f(1)); // [B,1,1,1]
  const useFirst = o.mul(multi, o.f([1, 1, 0, 0], [1, 4, 1, 1]));
  const tolerance = o.add(
    o.mul(multi, o.f(MULTI_POINT_TOLERANCES, [1, 4, 1, 1])),
    o.mul(o.not(multi), o.f(POINT_TOLERANCES, [1, 4, 1, 1])),
  );
  const nearestK = o.add(o.mul(useFirst, nearestFirst), o.mul(o.not(useFirst), nearest));
  const allowPoints = o.cmp('Less', nearestK, tolerance);
  // Box without points: candidates 0-1 take what differs from the band's grey (rings, whose centre is
  // background, come out whole); candidates 2-3 grow from the box centre with the point rule.
  const bandCand = o.f([1, 1, 0, 0], [1, 4, 1, 1]);
  const dev = o.abs(o.sub(smooth, bandStats.mean));
  const peak = o.max(o.rmax(o.mul(o.mul(dev, boxTight), valid), [2, 3]), o.f(1));
  const allowBand = o.mul(
    o.cmp('Greater', o.div(dev, peak), o.f(BOX_THRESHOLDS, [1, 4, 1, 1])),
    o.cmp('Greater', dev, o.mul(bandStats.sd, o.f(2.5))),
  );
  const centreCell = (a: string, b: string) =>
    g.op1('Clip', [o.floor(o.mul(o.add(a, b), o.f(0.5 / F))), o.f(0), o.f(G - 1)]);
  const centreMap = o.mul(
    o.cmp('Equal', centreCell(y0, y1), o.f(idx, [1, 1, G, 1])),
    o.cmp('Equal', centreCell(x0, x1), o.f(idx, [1, 1, 1, G])),
  );
  const centreValue = o.sum(o.mul(centreMap, localMean), [2, 3]);
  const centreSpread = o.max(o.abs(o.sub(centreValue, bandStats.mean)), o.f(10));
  const allowCentre = o.max(
    o.cmp(
      'Less',
      o.div(o.abs(o.sub(smooth, centreValue)), centreSpread),
      o.f(CENTRE_TOLERANCES, [1, 4, 1, 1]),
    ),
    centreMap,
  );
  const allowBox = o.add(o.mul(bandCand, allowBand), o.mul(o.not(bandCand), allowCentre));
  const region = o.mul(o.add(o.mul(hasBox, boxLoose), o.not(hasBox)), valid);
  // Without a positive point or a box there is nothing to segment: every candidate stays empty.
  const boxOnly = o.mul(o.not(hasPos), hasBox);
  const allowRaw = o.add(o.mul(hasPos, allowPoints), o.mul(boxOnly, allowBox));
  const prior = o.mul(o.cmp('Greater', mi, o.f(0)), o.unsqueeze(hmi, [2, 3]));
  const allow = o.mul(o.max(allowRaw, prior), region);

  // 4. Competitive geodesic growth on the coarse C x C grid, then a border refinement on the G grid.
  const boxSeed = o.add(o.mul(bandCand, allow), o.mul(o.not(bandCand), centreMap));
  const posSeed = o.add(o.mul(posMap, hasPos), o.mul(boxSeed, boxOnly));
  const ones4 = o.f([1, 1, 1, 1], [1, 4, 1, 1]);
  const pos0 = o.mul(o.mul(posSeed, ones4), region);
  const neg0 = o.mul(o.mul(o.mul(negMap, o.not(posMap)), ones4), region);
  const down = (v: string) => g.op1('AveragePool', [v], { kernel_shape: [2, 2], strides: [2, 2] });
  const posC = o.cmp('Greater', down(pos0), o.f(0));
  const negC = o.mul(o.cmp('Greater', down(neg0), o.f(0)), o.not(posC));
  // A coarse cell is passable when most of its fine cells are: thin leaks of one fine cell do not connect.
  const allowC = o.max(o.cmp('GreaterOrEqual', down(allow), o.f(0.5)), o.max(posC, negC));
  const hasNeg = g.op1('Greater', [g.op1('ReduceMax', [negC], { keepdims: 0 }), o.f(0)]);
  const grownC = g.op1('If', [hasNeg], {
    then_branch: { graph: growthBranch(allowC, posC, negC, true).toGraphProto() },
    else_branch: { graph: growthBranch(allowC, posC, negC, false).toGraphProto() },
  });
  const up = (v: string) =>
    g.op1('Resize', [v, '', o.f([1, 1, 2, 2])], {
      mode: 'nearest',
      coordinate_transformation_mode: 'asymmetric',
      nearest_mode: 'floor',
    });
  const bound = o.mul(up(o.maxFilter(grownC, 3)), allow);
  let grown = o.max(o.mul(up(grownC), allow), o.mul(pos0, allow));
  for (let step = 0; step < 2; step++) grown = o.mul(o.maxFilter(grown, 3), bound);

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
  const diff = (kernel: number[], dims: number[], pads: number[]) =>
    g.op1('Conv', [smooth, o.f(kernel, dims)], { pads });
  const gx = diff([-0.5, 0, 0.5], [1, 1, 1, 3], [0, 1, 0, 1]);
  const gy = diff([-0.5, 0, 0.5], [1, 1, 3, 1], [1, 0, 1, 0]);
  const gradient = o.mul(o.sqrt(o.add(o.mul(gx, gx), o.mul(gy, gy))), valid);
  const rim = o.mul(o.sub(o.maxFilter(grown, 3), o.not(o.maxFilter(o.not(grown), 3))), valid);
  const edge = o.div(o.wmean(gradient, rim), o.add(o.wmean(gradient, valid), o.f(0.5)));
  const extent = (axis: number) => o.sum(o.rmax(grown, [axis]), [2, 3]);
  const boxCells = (lo: string, hi: string) => o.max(o.mul(o.sub(hi, lo), o.f(1 / F)), o.f(1));
  const fill = o.mul(
    o.min(o.div(extent(3), boxCells(y0, y1)), o.f(1)),
    o.min(o.div(extent(2), boxCells(x0, x1)), o.f(1)),
  );
  const boxFit = o.add(o.mul(hasBox, o.mul(fill, fill)), o.not(hasBox));
  const score = o.mul(
    o.mul(
      o.mul(o.div(contrast, o.add(contrast, o.f(1))), o.div(edge, o.add(edge, o.f(1)))),
      o.mul(o.not(areaFrac), boxFit),
    ),
    o.cmp('Greater', area, o.f(0)),
  );
  const calibrated = o.not(g.op1('Exp', [o.mul(score, o.f(-1 / IOU_SCALE))]));
  g.op1('Reshape', [calibrated, o.i([0, 4])], {}, 'iou_predictions');

  // 7. Masks at the original size. Bilinear resizing is separable, so SAM's sequence (2-D upscale to 1024,
  // crop, 2-D resize) is done one axis at a time: rows first (low-res rows -> 1024 -> crop -> H), then
  // columns; same values up to float rounding, with intermediates 2-4x smaller. Only the low-res cells the
  // crop reads are upscaled (exactly 4x, so half_pixel sampling of the kept part is unchanged).
  const newI = g.op1('Cast', [newHW], { to: OnnxType.INT64 });
  const origI = g.op1('Cast', [hw], { to: OnnxType.INT64 });
  const keep = g.op1('Cast', [o.min(o.add(g.op1('Ceil', [o.mul(newHW, o.f(0.25))]), o.f(1)), o.f(G))], {
    to: OnnxType.INT64,
  });
  const linear = { mode: 'linear', coordinate_transformation_mode: 'half_pixel' };
  const shapeOf = (v: string) => g.op1('Shape', [v]);
  const along = (v: string, axis: 2 | 3): string => {
    const at = (t: string, i: number) => g.op1('Slice', [t, o.i([i]), o.i([i + 1])]);
    const kept = g.op1('Slice', [v, o.i([0]), at(keep, axis - 2), o.i([axis])]);
    const up = g.op1(
      'Resize',
      [kept, '', o.f(axis === 2 ? [1, 1, 1024 / G, 1] : [1, 1, 1, 1024 / G])],
      linear,
    );
    const cropped = g.op1('Slice', [up, o.i([0]), at(newI, axis - 2), o.i([axis])]);
    const shape = shapeOf(cropped);
    const sizes =
      axis === 2
        ? g.op1('Concat', [g.op1('Slice', [shape, o.i([0]), o.i([2])]), at(origI, 0), at(shape, 3)], {
            axis: 0,
          })
        : g.op1('Concat', [g.op1('Slice', [shape, o.i([0]), o.i([3])]), at(origI, 1)], { axis: 0 });
    return g.op1('Resize', [cropped, '', '', sizes], linear);
  };
  g.op1('Identity', [along(along('low_res_masks', 2), 3)], {}, 'masks');

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

/**
 * One branch of the growth If: a Loop of constrained 3x3 dilations (2 per iteration) on the coarse grid
 * that stops when the region stops growing. `competitive`: negative seeds grow at the same time and a cell
 * claimed by one side is never taken by the other (positive wins ties).
 */
function growthBranch(allow: string, pos: string, neg: string, competitive: boolean): GraphBuilder {
  const tag = competitive ? 'gc' : 'gp';
  const branch = new GraphBuilder(`${tag}_branch`, `${tag}_`);
  const bo = new Ops(branch);
  const body = new GraphBuilder(`${tag}_body`, `${tag}b_`);
  const b = new Ops(body);
  body.input(`${tag}b_iter`, OnnxType.INT64, []);
  body.input(`${tag}b_cond`, OnnxType.BOOL, []);
  let p = body.input(`${tag}b_p`, OnnxType.FLOAT);
  const prevSum = body.input(`${tag}b_sum`, OnnxType.FLOAT, []);
  let n = competitive ? body.input(`${tag}b_n`, OnnxType.FLOAT) : '';
  for (let step = 0; step < 2; step++) {
    if (competitive) {
      p = b.max(p, b.mul(b.mul(b.maxFilter(p, 3), allow), b.not(n)));
      n = b.max(n, b.mul(b.mul(b.maxFilter(n, 3), allow), b.not(p)));
    } else {
      p = b.mul(b.maxFilter(p, 3), allow);
    }
  }
  const total = competitive ? b.add(b.sum(p, [], 0), b.sum(n, [], 0)) : b.sum(p, [], 0);
  const cond = body.op1('Greater', [total, prevSum]);
  body.output(cond, OnnxType.BOOL, []);
  body.output(p, OnnxType.FLOAT);
  body.output(total, OnnxType.FLOAT, []);
  if (competitive) body.output(n, OnnxType.FLOAT);
  const loopInputs = competitive ? [pos, bo.f(-1), neg] : [pos, bo.f(-1)];
  const outs = branch.op(
    'Loop',
    [bo.i(MAX_ITERATIONS), branch.constBool([true], []), ...loopInputs],
    { body: { graph: body.toGraphProto() } },
    loopInputs.length,
  );
  branch.output(outs[0], OnnxType.FLOAT);
  return branch;
}
