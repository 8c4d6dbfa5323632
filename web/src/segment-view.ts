/**
 * The segment view: open an image, prompt with clicks and boxes, and see the mask after every prompt. The
 * image is encoded once (`encodeImage`, an embedding handle); each prompt is one `segment` call on that
 * handle (decoder only), refining with the previous mask's low-res handle. Candidates, undo, reset, several
 * objects, exports (RLE JSON, PNG label map, DICOM SEG) and window presets for DICOM and NIfTI.
 */
import { html, nothing, svg, type SVGTemplateResult, type TemplateResult } from 'lit-html';
import { ApiFailure, gql } from './api.ts';
import {
  decodeLocally,
  loadDecoder,
  loadEmbedding,
  wasmAvailable,
  type BrowserDecoder,
  type BrowserEmbedding,
} from './browser-decoder.ts';
import { readPickedFile, fromBase64, type PickedFile } from './image-files.ts';
import { loadPacsEndpoints, pacsBrowser, type PacsRef } from './pacs-browser.ts';
import { cssColour, decodeMask, paintMasks, type RleJson } from './overlay.ts';

/** A point prompt in image pixels. */
export interface PointPrompt {
  x: number;
  y: number;
  positive: boolean;
}

/** A box prompt in image pixels. */
export interface BoxPrompt {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** The prompts of one object. */
interface Prompts {
  points: PointPrompt[];
  box: BoxPrompt | null;
}

/** One mask candidate of the decoder. */
interface Candidate {
  rle: RleJson;
  predictedIou: number;
  stabilityScore: number;
  area: number;
  /** The gateway's low-res handle (server decoding). */
  lowResId?: string;
  /** The low-res logits themselves (browser decoding). */
  lowRes?: Float32Array;
}

/** Where prompts are decoded. */
type DecodePath = 'browser' | 'server';

/** The object's state after one prompt: kept in a stack so undo restores it without a request. */
interface Step {
  prompts: Prompts;
  candidates: Candidate[];
  chosen: number;
}

/** One annotated object. */
interface SegObject {
  id: number;
  label: string;
  colour: number;
  history: Step[];
}

/** Objects per image: the PNG label map stores object k as grey value k + 1 in 8 bits. */
const MAX_OBJECTS = 255;

/** Window choices offered for DICOM and NIfTI. */
const WINDOWS = [
  ['default', 'File default'],
  ['CT_SOFT_TISSUE', 'CT soft tissue (40/400)'],
  ['CT_LUNG', 'CT lung (-600/1500)'],
  ['CT_BONE', 'CT bone (400/1800)'],
  ['CT_BRAIN', 'CT brain (40/80)'],
  ['minmax', 'Min-max'],
  ['custom', 'Custom centre/width'],
] as const;

type WindowChoice = (typeof WINDOWS)[number][0];

/** Centre and width of the presets (as the gateway defines them), where a window drag starts from. */
const PRESET_WINDOWS: Partial<Record<WindowChoice, [number, number]>> = {
  CT_SOFT_TISSUE: [40, 400],
  CT_LUNG: [-600, 1500],
  CT_BONE: [400, 1800],
  CT_BRAIN: [40, 80],
};

interface OpenImage {
  file: PickedFile;
  width: number;
  height: number;
  spacing: number[] | null;
  embeddingId: string;
  model: string;
  image: HTMLImageElement;
}

/** Everything the view shows. */
const state = {
  image: null as OpenImage | null,
  objects: [] as SegObject[],
  active: 0,
  nextId: 1,
  busy: '' as string,
  status: '' as string,
  error: '' as string,
  models: [] as string[],
  model: '' as string, // '' = the gateway's default
  window: 'default' as WindowChoice,
  centre: 40,
  width: 400,
  niftiAxis: 2,
  niftiSlice: 0,
  /** True while dragging on the image adjusts the window (level: vertical, width: horizontal). */
  windowMode: false,
  windowDrag: null as null | { sx: number; sy: number; centre: number; width: number },
  drag: null as null | {
    x0: number;
    y0: number;
    x1: number;
    y1: number;
    moved: boolean;
    button: number;
    shift: boolean;
  },
  /** Milliseconds from each prompt's pointer release to its overlay on screen (either path). */
  latencies: [] as number[],
  /** The same latencies with the path that decoded each prompt. */
  decodes: [] as Array<{ path: DecodePath; ms: number }>,
  /** Decode in the browser when it can (the user may turn it off). */
  preferBrowser: wasmAvailable(),
  /** The decoder and the open image's embedding in browser memory, when browser decoding is on. */
  local: null as null | { decoder: BrowserDecoder; embedding: BrowserEmbedding },
  /** Why prompts are decoded on the gateway although the browser was preferred. */
  localNote: '',
};

let requestUpdate: () => void = () => undefined;

/** The canvases live across renders: lit-html places the same elements every time. */
const baseCanvas = document.createElement('canvas');
const overlayCanvas = document.createElement('canvas');
baseCanvas.className = 'layer';
overlayCanvas.className = 'layer';
overlayCanvas.id = 'overlay';
overlayCanvas.setAttribute('aria-hidden', 'true');
baseCanvas.setAttribute('role', 'img');

// Read by the browser tests and by anyone measuring the app from the console.
(window as unknown as { medsegLatencies: number[] }).medsegLatencies = state.latencies;
(window as unknown as { medsegDecodes: typeof state.decodes }).medsegDecodes = state.decodes;

function current(o: SegObject | undefined): Step | undefined {
  return o?.history[o.history.length - 1];
}

function activeObject(): SegObject | undefined {
  return state.objects[state.active];
}

function fail(err: unknown): void {
  state.busy = '';
  state.error =
    err instanceof ApiFailure
      ? `${err.code}: ${err.message}`
      : err instanceof Error
        ? err.message
        : String(err);
  requestUpdate();
}

function imageInput(): Record<string, unknown> {
  const f = state.image?.file ?? pendingFile;
  if (!f) throw new Error('no image open');
  const window =
    state.window === 'default'
      ? undefined
      : state.window === 'minmax'
        ? { minMax: true }
        : state.window === 'custom'
          ? { centerWidth: { center: state.centre, width: state.width } }
          : { preset: state.window };
  if (f.kind === 'dicom') return { dicom: { base64: f.base64, ...(window ? { window } : {}) } };
  if (f.kind === 'pacs' && f.pacs) return { dicomweb: { ...f.pacs, ...(window ? { window } : {}) } };
  if (f.kind === 'nifti')
    return {
      nifti: {
        base64: f.base64,
        axis: state.niftiAxis,
        slice: state.niftiSlice,
        ...(window ? { window } : {}),
      },
    };
  return { encoded: { base64: f.base64 } };
}

let pendingFile: PickedFile | null = null;

async function loadImage(dataUrl: string): Promise<HTMLImageElement> {
  const img = new Image();
  img.src = dataUrl;
  await img.decode();
  return img;
}

/** Renders and encodes the open file (again, after a window or slice change); keeps objects' prompts. */
async function openCurrent(file: PickedFile): Promise<void> {
  pendingFile = file;
  state.error = '';
  state.busy = 'Encoding the image…';
  requestUpdate();
  try {
    const image = imageInput();
    const model = state.model || null;
    const [rendered, encoded] = await Promise.all([
      gql<{ renderImage: { png: string; width: number; height: number; spacing: number[] | null } }>(
        'query Render($image: ImageInput!) { renderImage(image: $image) { png width height spacing } }',
        { image },
      ),
      gql<{ encodeImage: { id: string; model: string; width: number; height: number } }>(
        'mutation Encode($image: ImageInput!, $model: String) { encodeImage(image: $image, model: $model) { id model width height } }',
        { image, model },
      ),
    ]);
    const r = rendered.renderImage;
    const img = await loadImage(`data:image/png;base64,${r.png}`);
    const sameSize = state.image && state.image.width === r.width && state.image.height === r.height;
    state.image = {
      file,
      width: r.width,
      height: r.height,
      spacing: r.spacing,
      embeddingId: encoded.encodeImage.id,
      model: encoded.encodeImage.model,
      image: img,
    };
    await prepareLocal();
    baseCanvas.width = overlayCanvas.width = r.width;
    baseCanvas.height = overlayCanvas.height = r.height;
    baseCanvas.getContext('2d')!.drawImage(img, 0, 0);
    baseCanvas.setAttribute('aria-label', `${file.name}, ${r.width} by ${r.height} pixels`);
    if (!sameSize || state.objects.length === 0) {
      state.objects = [];
      addObject();
    } else {
      // A new window or slice: same pixel grid, new embedding; decode every object's prompts again.
      for (const o of state.objects) {
        const step = current(o);
        if (step) {
          const { path: _, ...next } = await decodeStep(step.prompts, undefined);
          o.history = [next];
        }
      }
    }
    state.busy = '';
    state.status = `Encoded with ${state.image.model} (${r.width}×${r.height}); decoding ${state.local ? 'in the browser' : 'on the gateway'}; click, shift-click or drag a box.`;
    paintOverlay();
  } catch (err: unknown) {
    fail(err);
  }
  requestUpdate();
}

const SEGMENT = `query Segment($input: SegmentInput!) {
  segment(input: $input) { results { masks { rle { size counts } predictedIou stabilityScore area lowResId } } }
}`;

/**
 * Loads the decoder (once per model) and the open image's embedding into the browser when browser decoding
 * is preferred; any failure leaves decoding on the gateway and says why.
 */
async function prepareLocal(): Promise<void> {
  state.local = null;
  state.localNote = '';
  const img = state.image;
  if (!img || !state.preferBrowser) return;
  if (!wasmAvailable()) {
    state.localNote = 'This browser has no WebAssembly: decoding on the gateway.';
    return;
  }
  try {
    const decoder = await loadDecoder(img.model);
    if (!decoder) {
      state.localNote = `The gateway does not offer ${img.model}'s decoder to browsers: decoding on the gateway.`;
      return;
    }
    const embedding = await loadEmbedding(img.embeddingId);
    if (!embedding) {
      state.localNote = 'The embedding expired before the browser fetched it: decoding on the gateway.';
      return;
    }
    state.local = { decoder, embedding };
  } catch (err: unknown) {
    state.localNote = `Browser decoding failed (${err instanceof Error ? err.message : String(err)}): decoding on the gateway.`;
  }
}

/** The path the next prompt takes: the browser needs its decoder and a prior it holds itself. */
function pathFor(previous: Candidate | undefined): DecodePath {
  const local = state.local;
  if (!local || local.embedding.id !== state.image?.embeddingId) return 'server';
  return previous && !previous.lowRes ? 'server' : 'browser';
}

/** One decode, in the browser or on the gateway (see pathFor). */
async function decodeStep(
  prompts: Prompts,
  previous: Candidate | undefined,
): Promise<Step & { path: DecodePath }> {
  if (pathFor(previous) === 'browser') {
    const { decoder, embedding } = state.local!;
    try {
      const candidates = await decodeLocally(decoder, embedding, prompts, previous?.lowRes);
      return { prompts, candidates, chosen: 0, path: 'browser' };
    } catch (err: unknown) {
      // A decoder this runtime cannot run (an operator it lacks, memory): the gateway decodes from now on.
      state.local = null;
      state.localNote = `Browser decoding failed (${err instanceof Error ? err.message : String(err)}): decoding on the gateway.`;
    }
  }
  return { ...(await decodeOnGateway(prompts, previous)), path: 'server' };
}

/** One decoder call on the cached embedding; re-encodes once when the embedding expired meanwhile. */
async function decodeOnGateway(prompts: Prompts, previous: Candidate | undefined): Promise<Step> {
  const img = state.image!;
  const set: Record<string, unknown> = {
    points: prompts.points,
    ...(prompts.box ? { box: prompts.box } : {}),
  };
  if (previous)
    set.previousMask = previous.lowResId ? { lowResId: previous.lowResId } : { rle: previous.rle };
  const run = () =>
    gql<{ segment: { results: Array<{ masks: Candidate[] }> } }>(SEGMENT, {
      input: {
        embeddingId: img.embeddingId,
        model: img.model,
        prompts: [set],
        options: { multimask: true, selection: 'ALL' },
      },
    });
  let data;
  try {
    data = await run();
  } catch (err: unknown) {
    if (err instanceof ApiFailure && err.code === 'BAD_PROMPT' && previous && /lowResId/.test(err.message)) {
      // The low-res handle was evicted (LOW_RES_CACHE_BYTES): the previous mask itself, as RLE, is the prior.
      set.previousMask = { rle: previous.rle };
      return { prompts, candidates: (await run()).segment.results[0]?.masks ?? [], chosen: 0 };
    }
    if (!(err instanceof ApiFailure) || err.code !== 'EMBEDDING_NOT_FOUND') throw err;
    // The gateway evicted the embedding (TTL or cache pressure): encode again and retry once without the
    // low-res handle, which was evicted with it or may be.
    const again = await gql<{ encodeImage: { id: string } }>(
      'mutation Encode($image: ImageInput!, $model: String) { encodeImage(image: $image, model: $model) { id } }',
      { image: imageInput(), model: img.model },
    );
    img.embeddingId = again.encodeImage.id;
    state.local = null;
    delete set.previousMask;
    data = await run();
  }
  return { prompts, candidates: data.segment.results[0]?.masks ?? [], chosen: 0 };
}

/** Applies a new prompt set to the active object: one decode, then the overlay. */
async function prompt(next: Prompts, started: number): Promise<void> {
  const o = activeObject();
  if (!o || !state.image || state.busy) return;
  const before = current(o);
  // Refine with the previous mask only when adding points to an existing mask (SAM's interactive loop);
  // a new box starts over.
  const refine = before && before.prompts.box === next.box ? before.candidates[before.chosen] : undefined;
  state.busy = 'Segmenting…';
  state.error = '';
  requestUpdate();
  try {
    const { path, ...step } = await decodeStep(next, refine);
    o.history.push(step);
    state.busy = '';
    paintOverlay();
    requestUpdate();
    await new Promise((r) => requestAnimationFrame(() => r(undefined)));
    const ms = performance.now() - started;
    state.latencies.push(ms);
    state.decodes.push({ path, ms });
    state.status = `Mask updated ${Math.round(ms)} ms after the prompt (decoded ${path === 'browser' ? 'in the browser' : 'on the gateway'}).`;
  } catch (err: unknown) {
    fail(err);
  }
  requestUpdate();
}

function paintOverlay(): void {
  const img = state.image;
  if (!img) return;
  const masks = [];
  for (const o of state.objects) {
    const step = current(o);
    const c = step?.candidates[step.chosen];
    if (c) masks.push({ mask: decodeMask(c.rle), colour: o.colour });
  }
  const rgba = paintMasks(img.width, img.height, masks);
  overlayCanvas.getContext('2d')!.putImageData(new ImageData(rgba, img.width, img.height), 0, 0);
}

function addObject(): void {
  if (state.objects.length >= MAX_OBJECTS) return;
  const id = state.nextId++;
  state.objects.push({ id, label: `object ${id}`, colour: (id - 1) % 8, history: [] });
  state.active = state.objects.length - 1;
}

/** Removes the active object's last prompt. */
export function undo(): void {
  const o = activeObject();
  if (!o || o.history.length === 0 || state.busy) return;
  o.history.pop();
  paintOverlay();
  state.status = 'Undone.';
  requestUpdate();
}

/** Removes every prompt of the active object. */
export function resetObject(): void {
  const o = activeObject();
  if (!o || state.busy) return;
  o.history = [];
  paintOverlay();
  state.status = 'Object reset.';
  requestUpdate();
}

/** Shows candidate `index` (0-based) of the active object. */
export function chooseCandidate(index: number): void {
  const step = current(activeObject());
  if (!step || index < 0 || index >= step.candidates.length) return;
  step.chosen = index;
  paintOverlay();
  requestUpdate();
}

function imagePoint(ev: PointerEvent): { x: number; y: number } {
  const rect = (ev.currentTarget as Element).getBoundingClientRect();
  const img = state.image!;
  const clamp = (v: number, hi: number) => Math.min(hi, Math.max(0, v));
  // Hundredths of a pixel: exact at 1:1 display, and short in requests and exports.
  const round = (v: number) => Math.round(v * 100) / 100;
  return {
    x: round(clamp(((ev.clientX - rect.left) / rect.width) * img.width, img.width)),
    y: round(clamp(((ev.clientY - rect.top) / rect.height) * img.height, img.height)),
  };
}

function onPointerDown(ev: PointerEvent): void {
  if (!state.image || (ev.button !== 0 && ev.button !== 2)) return;
  ev.preventDefault();
  (ev.currentTarget as Element).setPointerCapture(ev.pointerId);
  if (state.windowMode) {
    const [centre, width] = PRESET_WINDOWS[state.window] ?? [state.centre, state.width];
    state.windowDrag = { sx: ev.clientX, sy: ev.clientY, centre, width };
    return;
  }
  const p = imagePoint(ev);
  state.drag = { x0: p.x, y0: p.y, x1: p.x, y1: p.y, moved: false, button: ev.button, shift: ev.shiftKey };
}

/** Window drag: right widens (x2 per 200 px), down raises the level (by the width per 400 px). */
function draggedWindow(ev: PointerEvent): [number, number] {
  const w = state.windowDrag!;
  const width = Math.max(1, Math.round(w.width * 2 ** ((ev.clientX - w.sx) / 200)));
  const centre = Math.round(w.centre + ((ev.clientY - w.sy) * w.width) / 400);
  return [centre, width];
}

function onPointerMove(ev: PointerEvent): void {
  if (state.windowDrag) {
    const [centre, width] = draggedWindow(ev);
    state.status = `Window centre ${centre}, width ${width} (release to apply)`;
    requestUpdate();
    return;
  }
  const d = state.drag;
  if (!d || !state.image) return;
  const p = imagePoint(ev);
  d.x1 = p.x;
  d.y1 = p.y;
  const rect = (ev.currentTarget as Element).getBoundingClientRect();
  const screen = (Math.hypot(d.x1 - d.x0, d.y1 - d.y0) * rect.width) / state.image.width;
  if (d.button === 0 && screen > 4) d.moved = true;
  if (d.moved) requestUpdate();
}

function onPointerUp(ev: PointerEvent): void {
  if (state.windowDrag) {
    [state.centre, state.width] = draggedWindow(ev);
    state.windowDrag = null;
    state.window = 'custom';
    if (state.image) void openCurrent(state.image.file);
    return;
  }
  const d = state.drag;
  state.drag = null;
  if (!d || !state.image) return;
  const started = performance.now();
  const o = activeObject();
  const before = current(o)?.prompts ?? { points: [], box: null };
  if (d.moved) {
    const box = {
      x0: Math.min(d.x0, d.x1),
      y0: Math.min(d.y0, d.y1),
      x1: Math.max(d.x0, d.x1),
      y1: Math.max(d.y0, d.y1),
    };
    void prompt({ points: before.points, box }, started);
  } else {
    const positive = d.button === 0 && !d.shift && !ev.shiftKey;
    void prompt({ points: [...before.points, { x: d.x0, y: d.y0, positive }], box: before.box }, started);
  }
}

/** Keyboard shortcuts: z undo, Esc reset, 1-9 candidate. Ignored while typing in a field. */
export function onSegmentKey(ev: KeyboardEvent): void {
  const t = ev.target as HTMLElement | null;
  if (t && (t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA')) return;
  if (ev.key === 'z' || ev.key === 'Z') {
    ev.preventDefault();
    undo();
  } else if (ev.key === 'Escape') {
    resetObject();
  } else if (/^[1-9]$/.test(ev.key) && !ev.ctrlKey && !ev.metaKey && !ev.altKey) {
    chooseCandidate(Number(ev.key) - 1);
  }
}

function download(name: string, blob: Blob): void {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

function baseName(): string {
  return (state.image?.file.name ?? 'image').replace(/\.(nii\.gz|[a-z0-9]+)$/i, '');
}

function exportRle(): void {
  const img = state.image;
  if (!img) return;
  const objects = state.objects.flatMap((o) => {
    const step = current(o);
    const c = step?.candidates[step.chosen];
    if (!step || !c) return [];
    return [
      {
        label: o.label,
        colour: cssColour(o.colour),
        rle: c.rle,
        predictedIou: c.predictedIou,
        stabilityScore: c.stabilityScore,
        area: c.area,
        prompts: step.prompts,
      },
    ];
  });
  const body = {
    image: { name: img.file.name, width: img.width, height: img.height },
    model: img.model,
    objects,
  };
  download(
    `${baseName()}-masks.json`,
    new Blob([JSON.stringify(body, null, 2)], { type: 'application/json' }),
  );
}

function exportPng(): void {
  const img = state.image;
  if (!img) return;
  // A label map: grey value k + 1 where object k's mask is (later objects on top), 0 elsewhere.
  const canvas = document.createElement('canvas');
  canvas.width = img.width;
  canvas.height = img.height;
  const rgba = new Uint8ClampedArray(img.width * img.height * 4);
  for (let i = 3; i < rgba.length; i += 4) rgba[i] = 255;
  state.objects.forEach((o, k) => {
    const step = current(o);
    const c = step?.candidates[step.chosen];
    if (!c) return;
    const m = decodeMask(c.rle).data;
    for (let i = 0; i < m.length; i++) if (m[i]) rgba[i * 4] = rgba[i * 4 + 1] = rgba[i * 4 + 2] = k + 1;
  });
  canvas.getContext('2d')!.putImageData(new ImageData(rgba, img.width, img.height), 0, 0);
  canvas.toBlob((blob) => blob && download(`${baseName()}-labels.png`, blob), 'image/png');
}

/**
 * Writes the active object's mask as a DICOM SEG over the open DICOM image: downloaded, or (`store`, for an
 * image opened from a PACS) stored by STOW-RS on that PACS.
 */
async function exportDicomSeg(store = false): Promise<void> {
  const img = state.image;
  const o = activeObject();
  const step = current(o);
  const c = step?.candidates[step.chosen];
  const f = img?.file;
  if (!img || !o || !c || !f || (f.kind !== 'dicom' && !(f.kind === 'pacs' && f.pacs))) return;
  if (store && f.kind !== 'pacs') return;
  state.busy = store ? 'Storing the DICOM SEG on the PACS…' : 'Writing the DICOM SEG…';
  requestUpdate();
  try {
    const source = f.pacs
      ? {
          dicomweb: {
            pacs: f.pacs.pacs,
            studyUID: f.pacs.studyUID,
            seriesUID: f.pacs.seriesUID,
            instanceUIDs: [f.pacs.instanceUID],
          },
        }
      : { dicom: [f.base64] };
    const d = await gql<{
      exportDicomSeg: { base64: string; stored: { pacs: string; sopInstanceUID: string } | null };
    }>(
      `mutation Seg($input: DicomSegExportInput!) {
        exportDicomSeg(input: $input) { base64 stored { pacs sopInstanceUID } }
      }`,
      {
        input: {
          source,
          masks: [{ sourceIndex: 0, rle: { size: c.rle.size, counts: c.rle.counts } }],
          model: img.model,
          seg: { label: o.label, ...(store ? { storeToPacs: true } : {}) },
        },
      },
    );
    const stored = d.exportDicomSeg.stored;
    if (store) {
      if (!stored) throw new Error('the gateway wrote the SEG but reports no stored instance');
      state.status = `Stored the SEG on ${stored.pacs} as ${stored.sopInstanceUID}.`;
    } else
      download(
        `${baseName()}-seg.dcm`,
        new Blob([fromBase64(d.exportDicomSeg.base64) as BlobPart], { type: 'application/dicom' }),
      );
    state.busy = '';
  } catch (err: unknown) {
    fail(err);
  }
  requestUpdate();
}

async function onFile(ev: Event): Promise<void> {
  const input = ev.target as HTMLInputElement;
  const file = input.files?.[0];
  if (!file) return;
  try {
    const picked = await readPickedFile(file);
    state.image = null;
    state.objects = [];
    state.window = 'default';
    if (picked.kind === 'nifti')
      state.niftiSlice = picked.niftiDims ? Math.floor(picked.niftiDims[state.niftiAxis] / 2) : 0;
    await openCurrent(picked);
  } catch (err: unknown) {
    fail(err);
  }
}

/** Loads the model list for the model picker (the gateway's default stays the default choice). */
export async function loadModels(): Promise<void> {
  try {
    const d = await gql<{ models: Array<{ name: string; ready: boolean }> }>(
      'query Models { models { name ready } }',
    );
    state.models = d.models.filter((m) => m.ready).map((m) => m.name);
  } catch {
    state.models = [];
  }
  requestUpdate();
  await loadPacsEndpoints();
}

/** A benchmark case to open: the image as PNG (base64), the model, and the prompt the benchmark sent. */
export interface CaseToOpen {
  name: string;
  pngBase64: string;
  model: string;
  points: PointPrompt[];
  box: BoxPrompt | null;
}

/**
 * Opens a benchmark gallery case: its image with the job's model, then its prompt decoded as if clicked, so
 * the overlay shows what the benchmark saw and the prompt can be edited from there.
 */
export async function openCase(c: CaseToOpen): Promise<void> {
  state.image = null;
  state.objects = [];
  state.window = 'default';
  state.model = c.model;
  if (!state.models.includes(c.model)) state.models = [...state.models, c.model];
  const bytes = Uint8Array.from(atob(c.pngBase64), (ch) => ch.charCodeAt(0));
  await openCurrent({ name: c.name, kind: 'encoded', bytes, base64: c.pngBase64, niftiDims: null });
  if (!state.image) return;
  await prompt({ points: c.points, box: c.box }, performance.now());
}

/** Opens an instance picked in the PACS browser (the gateway reads it by WADO-RS). */
function openPacs(ref: PacsRef, name: string): void {
  state.image = null;
  state.objects = [];
  state.window = 'default';
  void openCurrent({ name, kind: 'pacs', bytes: new Uint8Array(), base64: '', niftiDims: null, pacs: ref });
}

function promptMarks(): SVGTemplateResult | typeof nothing {
  const img = state.image;
  if (!img) return nothing;
  const step = current(activeObject());
  const r = Math.max(3, img.width / 120);
  const d = state.drag;
  return svg`${
    step?.prompts.box
      ? svg`<rect class="box" data-box=${JSON.stringify(step.prompts.box)} x=${step.prompts.box.x0} y=${step.prompts.box.y0}
          width=${step.prompts.box.x1 - step.prompts.box.x0} height=${step.prompts.box.y1 - step.prompts.box.y0}></rect>`
      : nothing
  }
    ${(step?.prompts.points ?? []).map(
      (p) => svg`<circle class=${p.positive ? 'pos' : 'neg'} cx=${p.x} cy=${p.y} r=${r}></circle>`,
    )}
    ${
      d?.moved
        ? svg`<rect class="box drawing" x=${Math.min(d.x0, d.x1)} y=${Math.min(d.y0, d.y1)} width=${Math.abs(d.x1 - d.x0)}
          height=${Math.abs(d.y1 - d.y0)}></rect>`
        : nothing
    }`;
}

function candidatesPanel(): TemplateResult {
  const step = current(activeObject());
  return html`<fieldset class="candidates">
    <legend>Candidates</legend>
    ${
      step && step.candidates.length > 0
        ? step.candidates.map(
            (c, i) =>
              html`<button
                type="button"
                class="candidate"
                aria-pressed=${i === step.chosen ? 'true' : 'false'}
                aria-label=${`Candidate ${i + 1}: predicted IoU ${c.predictedIou.toFixed(3)}, stability ${c.stabilityScore.toFixed(3)}, ${c.area} pixels`}
                @click=${() => chooseCandidate(i)}
              >
                <kbd>${i + 1}</kbd> IoU ${c.predictedIou.toFixed(3)} · stability
                ${c.stabilityScore.toFixed(3)} · ${c.area} px
              </button>`,
          )
        : html`<p class="hint">No mask yet.</p>`
    }
  </fieldset>`;
}

function objectsPanel(): TemplateResult {
  return html`<fieldset class="objects">
    <legend>Objects</legend>
    <ul>
      ${state.objects.map(
        (o, i) =>
          html`<li class=${i === state.active ? 'active' : ''}>
            <span class="swatch" style=${`background:${cssColour(o.colour)}`} aria-hidden="true"></span>
            <button
              type="button"
              aria-pressed=${i === state.active ? 'true' : 'false'}
              aria-label=${`Select ${o.label}`}
              @click=${() => {
                state.active = i;
                requestUpdate();
              }}
            >
              ${i === state.active ? 'Active' : 'Select'}
            </button>
            <input
              aria-label=${`Label of object ${o.id}`}
              .value=${o.label}
              @change=${(e: Event) => {
                o.label = (e.target as HTMLInputElement).value.slice(0, 64) || `object ${o.id}`;
                requestUpdate();
              }}
            />
            <button
              type="button"
              aria-label=${`Delete ${o.label}`}
              ?disabled=${state.objects.length <= 1}
              @click=${() => {
                state.objects.splice(i, 1);
                state.active = Math.min(state.active, state.objects.length - 1);
                paintOverlay();
                requestUpdate();
              }}
            >
              Delete
            </button>
          </li>`,
      )}
    </ul>
    <button
      type="button"
      ?disabled=${!state.image || state.objects.length >= MAX_OBJECTS}
      @click=${() => {
        addObject();
        requestUpdate();
      }}
    >
      New object
    </button>
  </fieldset>`;
}

function windowControls(): TemplateResult | typeof nothing {
  const f = state.image?.file;
  if (!f || f.kind === 'encoded') return nothing;
  const reopen = () => void openCurrent(f);
  return html`<fieldset class="window">
    <legend>Intensity window</legend>
    <label
      >Preset
      <select
        @change=${(e: Event) => {
          state.window = (e.target as HTMLSelectElement).value as WindowChoice;
          reopen();
        }}
      >
        ${WINDOWS.map(([v, label]) => html`<option value=${v} ?selected=${state.window === v}>${label}</option>`)}
      </select></label
    >
    <button
      type="button"
      id="window-drag"
      aria-pressed=${state.windowMode ? 'true' : 'false'}
      title="Drag on the image: left/right changes the width, up/down the level"
      @click=${() => {
        state.windowMode = !state.windowMode;
        requestUpdate();
      }}
    >
      Drag to window
    </button>
    ${
      state.window === 'custom'
        ? html`<label
              >Centre
              <input
                type="number"
                .value=${String(state.centre)}
                @change=${(e: Event) => {
                  state.centre = Number((e.target as HTMLInputElement).value);
                  reopen();
                }}
            /></label>
            <label
              >Width
              <input
                type="number"
                min="1"
                .value=${String(state.width)}
                @change=${(e: Event) => {
                  state.width = Math.max(1, Number((e.target as HTMLInputElement).value));
                  reopen();
                }}
            /></label>`
        : nothing
    }
    ${
      f.kind === 'nifti'
        ? html`<label
              >Axis
              <select
                @change=${(e: Event) => {
                  state.niftiAxis = Number((e.target as HTMLSelectElement).value);
                  state.niftiSlice = f.niftiDims ? Math.floor(f.niftiDims[state.niftiAxis] / 2) : 0;
                  state.objects = [];
                  reopen();
                }}
              >
                ${[0, 1, 2].map((a) => html`<option value=${a} ?selected=${state.niftiAxis === a}>${a}</option>`)}
              </select></label
            >
            <label
              >Slice
              <input
                type="number"
                min="0"
                max=${f.niftiDims ? f.niftiDims[state.niftiAxis] - 1 : nothing}
                .value=${String(state.niftiSlice)}
                @change=${(e: Event) => {
                  state.niftiSlice = Math.max(0, Math.floor(Number((e.target as HTMLInputElement).value)));
                  state.objects = [];
                  reopen();
                }}
            /></label>`
        : nothing
    }
  </fieldset>`;
}

/** The segment view's template; `update` re-renders the app. */
export function segmentView(update: () => void): TemplateResult {
  requestUpdate = update;
  const img = state.image;
  const step = current(activeObject());
  return html`<section class="segment" aria-label="Segment">
    <div class="toolbar">
      <label class="file"
        >Open image (PNG, JPEG, TIFF, DICOM, NIfTI)
        <input
          id="file"
          type="file"
          accept=".png,.jpg,.jpeg,.tif,.tiff,.dcm,.nii,.gz,image/*,application/dicom"
          @change=${onFile}
      /></label>
      <label
        >Model
        <select
          id="model"
          @change=${(e: Event) => {
            state.model = (e.target as HTMLSelectElement).value;
            if (state.image) void openCurrent(state.image.file);
          }}
        >
          <option value="" ?selected=${state.model === ''}>Gateway default</option>
          ${state.models.map((m) => html`<option value=${m} ?selected=${state.model === m}>${m}</option>`)}
        </select></label
      >
      <label title="Runs the prompt decoder here with WebAssembly; the gateway encodes the image once"
        ><input
          id="decode-browser"
          type="checkbox"
          .checked=${state.preferBrowser}
          @change=${async (e: Event) => {
            state.preferBrowser = (e.target as HTMLInputElement).checked;
            state.busy = state.preferBrowser && state.image ? 'Loading the decoder…' : '';
            requestUpdate();
            await prepareLocal();
            state.busy = '';
            requestUpdate();
          }}
        />
        Decode in the browser</label
      >
      <button type="button" ?disabled=${!step} @click=${undo} title="z">Undo</button>
      <button type="button" ?disabled=${!step} @click=${resetObject} title="Esc">Reset</button>
      <button type="button" id="export-rle" ?disabled=${!img} @click=${exportRle}>Export RLE JSON</button>
      <button type="button" id="export-png" ?disabled=${!img} @click=${exportPng}>Export PNG</button>
      ${
        img?.file.kind === 'dicom' || img?.file.kind === 'pacs'
          ? html`<button type="button" ?disabled=${!step} @click=${() => void exportDicomSeg()}>
              Export DICOM SEG
            </button>`
          : nothing
      }
      ${
        img?.file.kind === 'pacs'
          ? html`<button
              type="button"
              id="store-seg"
              ?disabled=${!step}
              @click=${() => void exportDicomSeg(true)}
            >
              Store SEG to ${img.file.pacs?.pacs}
            </button>`
          : nothing
      }
    </div>
    ${pacsBrowser(update, openPacs)}
    <p class="status" role="status" aria-live="polite" data-busy=${state.busy ? 'true' : 'false'}>
      ${state.busy || state.status || 'Open an image to start.'}
    </p>
    ${state.error ? html`<p class="error" role="alert">${state.error}</p>` : nothing}
    ${
      img
        ? html`<p class="hint" id="decode-path" data-path=${state.local ? 'browser' : 'server'}>
            ${state.local ? `Decoding in the browser (${state.local.decoder.model}).` : state.localNote || 'Decoding on the gateway.'}
          </p>`
        : nothing
    }
    <div class="workspace">
      <div class="stage-wrap">
        ${
          img
            ? html`<div class="stage" style=${`width:${img.width}px;aspect-ratio:${img.width}/${img.height}`}>
                ${baseCanvas}${overlayCanvas}
                <svg
                  class="layer prompts"
                  id="prompt-layer"
                  viewBox=${`0 0 ${img.width} ${img.height}`}
                  preserveAspectRatio="none"
                  role="application"
                  aria-label="Image: click adds a positive point, shift-click or right-click a negative point, drag draws a box"
                  @pointerdown=${onPointerDown}
                  @pointermove=${onPointerMove}
                  @pointerup=${onPointerUp}
                  @contextmenu=${(e: Event) => e.preventDefault()}
                >
                  ${promptMarks()}
                </svg>
              </div>`
            : html`<p class="hint">
                Left click: positive point · Shift or right click: negative point · Drag: box · z: undo · Esc:
                reset · 1–3: candidate
              </p>`
        }
      </div>
      <aside class="side">${windowControls()} ${candidatesPanel()} ${objectsPanel()}</aside>
    </div>
  </section>`;
}
