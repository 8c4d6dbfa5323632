/**
 * Outer contours of a binary mask as polygons along pixel edges (crack following): each 4-connected
 * component's outer boundary becomes one closed polygon of pixel-corner coordinates, with collinear
 * vertices removed. Holes are not reported. Coordinates are in pixels with (0, 0) the top-left corner.
 */
import type { BinaryMask } from './mask.ts';

/** Polygons as flat [x0, y0, x1, y1, ...] lists (COCO polygon style), one per 4-connected component. */
export function maskToPolygons(mask: BinaryMask): number[][] {
  const { width: w, height: h, data } = mask;
  const at = (x: number, y: number) => (x >= 0 && y >= 0 && x < w && y < h ? data[y * w + x] : 0);
  const seen = new Uint8Array(w * h);
  const polygons: number[][] = [];
  const stack: number[] = [];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!data[y * w + x] || seen[y * w + x]) continue;
      // Flood the component so each is traced once; (x, y) is its first pixel in row-major order, so its
      // top edge lies on the outer boundary.
      stack.push(y * w + x);
      seen[y * w + x] = 1;
      while (stack.length > 0) {
        const i = stack.pop()!;
        const cx = i % w;
        const cy = (i - cx) / w;
        for (const [nx, ny] of [
          [cx + 1, cy],
          [cx - 1, cy],
          [cx, cy + 1],
          [cx, cy - 1],
        ]) {
          if (at(nx, ny) && !seen[ny * w + nx]) {
            seen[ny * w + nx] = 1;
            stack.push(ny * w + nx);
          }
        }
      }
      polygons.push(traceOuter(at, x, y));
    }
  }
  return polygons;
}

// Directions: 0 right, 1 down, 2 left, 3 up (clockwise on screen with y down).
const DX = [1, 0, -1, 0];
const DY = [0, 1, 0, -1];

/**
 * Follows the boundary between inside and outside pixels with the inside on the right-hand side, starting at
 * the top-left corner of pixel (sx, sy) heading right, until it returns to the start.
 */
function traceOuter(at: (x: number, y: number) => number, sx: number, sy: number): number[] {
  const pts: number[] = [];
  let x = sx;
  let y = sy;
  let d = 0;
  const limit = 4 * (1 << 26);
  for (let steps = 0; steps < limit; steps++) {
    // Pixels ahead-left and ahead-right of the corner (x, y) going in direction d.
    const { left, right } = ahead(at, x, y, d);
    let nd: number;
    if (left)
      nd = (d + 3) % 4; // turn left
    else if (right)
      nd = d; // straight
    else nd = (d + 1) % 4; // turn right
    if (nd !== d || steps === 0) pts.push(x, y);
    if (nd !== d) {
      d = nd;
      continue;
    }
    x += DX[d];
    y += DY[d];
    if (x === sx && y === sy) break;
  }
  return simplify(pts);
}

function ahead(
  at: (x: number, y: number) => number,
  x: number,
  y: number,
  d: number,
): { left: number; right: number } {
  // The two pixels touching the edge that starts at corner (x, y) in direction d.
  switch (d) {
    case 0:
      return { left: at(x, y - 1), right: at(x, y) };
    case 1:
      return { left: at(x, y), right: at(x - 1, y) };
    case 2:
      return { left: at(x - 1, y), right: at(x - 1, y - 1) };
    default:
      return { left: at(x - 1, y - 1), right: at(x, y - 1) };
  }
}

function simplify(pts: number[]): number[] {
  const n = pts.length / 2;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const px = pts[((i + n - 1) % n) * 2];
    const py = pts[((i + n - 1) % n) * 2 + 1];
    const x = pts[i * 2];
    const y = pts[i * 2 + 1];
    const qx = pts[((i + 1) % n) * 2];
    const qy = pts[((i + 1) % n) * 2 + 1];
    if ((x - px) * (qy - y) - (y - py) * (qx - x) !== 0) out.push(x, y);
    else if (px === x && py === y) continue;
  }
  return out;
}
