/**
 * The volume view: open a NIfTI volume or the DICOM files of one series, pick the key slice, draw a box and
 * propagate it through the volume (`startVolumeSegmentation`), with the progress bar fed by the
 * `volumeProgress` subscription and a cancel button. Afterwards the slices scroll with their masks, the label
 * volume downloads as .nii.gz, and for a DICOM series the DICOM SEG too.
 */
import dicomParser from 'dicom-parser';
import { html, nothing, svg, type TemplateResult } from 'lit-html';
import { ApiFailure, gql, subscribe } from './api.ts';
import { fromBase64, readPickedFile, type PickedFile } from './image-files.ts';
import { decodeMask, paintMasks, type RleJson } from './overlay.ts';

interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

interface SliceMask {
  slice: number;
  rle: RleJson;
  area: number;
}

const state = {
  file: null as PickedFile | null,
  /** A DICOM series: its files in the gateway's slice order (along the slice normal). */
  series: null as PickedFile[] | null,
  /** SOP Instance UIDs of the series' files, in slice order. */
  seriesUids: [] as string[],
  axis: 2,
  slice: 0,
  slices: 0,
  width: 0,
  height: 0,
  box: null as Box | null,
  keySlice: null as number | null,
  drag: null as null | { x0: number; y0: number; x1: number; y1: number },
  job: null as null | { id: string; status: string; done: number; planned: number; progress: number },
  masks: new Map<number, SliceMask>(),
  nifti: '' as string,
  /** Base64 DICOM SEG of the propagated masks (DICOM series only). */
  dicomSeg: '' as string,
  stopped: '' as string,
  /** Progress events received over the subscription. */
  events: 0,
  error: '',
  busy: '',
};

let requestUpdate: () => void = () => undefined;
let stopWatching: (() => void) | null = null;
/** Rendered slice images by slice index (the volume's window is fixed, so they never change). */
const sliceImages = new Map<number, HTMLImageElement>();
const baseCanvas = document.createElement('canvas');
const overlayCanvas = document.createElement('canvas');
baseCanvas.className = 'layer';
overlayCanvas.className = 'layer';
overlayCanvas.id = 'volume-overlay';
overlayCanvas.setAttribute('aria-hidden', 'true');
baseCanvas.setAttribute('role', 'img');

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

async function sliceImage(index: number): Promise<HTMLImageElement> {
  const cached = sliceImages.get(index);
  if (cached) return cached;
  const d = await gql<{ renderImage: { png: string; width: number; height: number } }>(
    'query Slice($image: ImageInput!) { renderImage(image: $image) { png width height } }',
    {
      image: state.series
        ? { dicom: { base64: state.series[index].base64 } }
        : { nifti: { base64: state.file!.base64, axis: state.axis, slice: index } },
    },
  );
  const img = new Image();
  img.src = `data:image/png;base64,${d.renderImage.png}`;
  await img.decode();
  sliceImages.set(index, img);
  state.width = d.renderImage.width;
  state.height = d.renderImage.height;
  return img;
}

/** Shows slice `index` with its mask, if propagation reached it. */
async function showSlice(index: number): Promise<void> {
  if (!state.file) return;
  state.slice = Math.max(0, Math.min(state.slices - 1, index));
  try {
    const img = await sliceImage(state.slice);
    if (baseCanvas.width !== img.naturalWidth || baseCanvas.height !== img.naturalHeight) {
      baseCanvas.width = overlayCanvas.width = img.naturalWidth;
      baseCanvas.height = overlayCanvas.height = img.naturalHeight;
    }
    baseCanvas.getContext('2d')!.drawImage(img, 0, 0);
    baseCanvas.setAttribute('aria-label', `Slice ${state.slice} of ${state.slices}`);
    const m = state.masks.get(state.slice);
    const rgba = paintMasks(
      img.naturalWidth,
      img.naturalHeight,
      m ? [{ mask: decodeMask(m.rle), colour: 1 }] : [],
    );
    overlayCanvas
      .getContext('2d')!
      .putImageData(new ImageData(rgba, img.naturalWidth, img.naturalHeight), 0, 0);
  } catch (err: unknown) {
    fail(err);
  }
  requestUpdate();
}

/**
 * The slice order the gateway uses for a DICOM series (medical-volume.ts): position along the normal of the
 * first file's Image Orientation when files carry geometry, else Instance Number, else the given order.
 */
function seriesOrder(files: PickedFile[]): Array<{ file: PickedFile; uid: string }> {
  const nums = (ds: dicomParser.DataSet, tag: string) =>
    ds
      .string(tag)
      ?.split('\\')
      .map(Number)
      .filter((v) => Number.isFinite(v));
  const meta = files.map((f) => {
    const ds = dicomParser.parseDicom(f.bytes, { untilTag: 'x7fe00010' });
    const n = ds.string('x00200013');
    return {
      uid: ds.string('x00080018') ?? '',
      iop: nums(ds, 'x00200037'),
      ipp: nums(ds, 'x00200032'),
      instance: n !== undefined && n.trim() !== '' ? Number(n) : undefined,
    };
  });
  const iop = meta[0].iop?.length === 6 ? meta[0].iop : undefined;
  const normal = iop && [
    iop[1] * iop[5] - iop[2] * iop[4],
    iop[2] * iop[3] - iop[0] * iop[5],
    iop[0] * iop[4] - iop[1] * iop[3],
  ];
  const key = (i: number): number => {
    const p = meta[i].ipp;
    if (normal && p && p.length === 3) return normal[0] * p[0] + normal[1] * p[1] + normal[2] * p[2];
    return meta[i].instance ?? i;
  };
  return files
    .map((_, i) => i)
    .sort((a, b) => key(a) - key(b))
    .map((i) => ({ file: files[i], uid: meta[i].uid }));
}

async function onFile(ev: Event): Promise<void> {
  const list = [...((ev.target as HTMLInputElement).files ?? [])];
  if (list.length === 0) return;
  try {
    const picked = await Promise.all(list.map((f) => readPickedFile(f)));
    const dicoms = picked.filter((p) => p.kind === 'dicom');
    if (dicoms.length > 0) {
      if (dicoms.length !== picked.length)
        throw new Error('a volume is one NIfTI file or the DICOM files of one series, not a mix');
      resetVolume();
      const ordered = seriesOrder(dicoms);
      state.series = ordered.map((o) => o.file);
      state.seriesUids = ordered.map((o) => o.uid);
      state.file = state.series[0];
      state.slices = state.series.length;
      await showSlice(Math.floor(state.slices / 2));
      return;
    }
    if (picked.length !== 1 || picked[0].kind !== 'nifti' || !picked[0].niftiDims)
      throw new Error(`${list[0].name}: not a readable NIfTI volume or DICOM series`);
    resetVolume();
    state.file = picked[0];
    state.slices = picked[0].niftiDims[state.axis];
    await showSlice(Math.floor(state.slices / 2));
  } catch (err: unknown) {
    fail(err);
  }
}

function resetVolume(): void {
  stopWatching?.();
  stopWatching = null;
  sliceImages.clear();
  state.masks.clear();
  state.box = null;
  state.keySlice = null;
  state.job = null;
  state.nifti = '';
  state.dicomSeg = '';
  state.series = null;
  state.stopped = '';
  state.events = 0;
  state.error = '';
}

function imagePoint(ev: PointerEvent): { x: number; y: number } {
  const rect = (ev.currentTarget as Element).getBoundingClientRect();
  const round = (v: number) => Math.round(v * 100) / 100;
  return {
    x: round(Math.min(state.width, Math.max(0, ((ev.clientX - rect.left) / rect.width) * state.width))),
    y: round(Math.min(state.height, Math.max(0, ((ev.clientY - rect.top) / rect.height) * state.height))),
  };
}

async function propagate(): Promise<void> {
  if (!state.file || !state.box) return;
  state.error = '';
  state.masks.clear();
  state.events = 0;
  try {
    const d = await gql<{
      startVolumeSegmentation: { jobId: string; status: string; slicesPlanned: number };
    }>(
      'mutation Propagate($input: VolumeSegmentInput!) { startVolumeSegmentation(input: $input) { jobId status slicesPlanned } }',
      {
        input: {
          volume: state.series
            ? { dicomSeries: { instances: state.series.map((f) => f.base64) } }
            : { nifti: { base64: state.file.base64, axis: state.axis } },
          keySlice: state.keySlice ?? state.slice,
          prompt: { box: state.box },
          outputs: state.series ? ['NIFTI', 'DICOM_SEG'] : ['NIFTI'],
        },
      },
    );
    const job = d.startVolumeSegmentation;
    state.job = { id: job.jobId, status: job.status, done: 0, planned: job.slicesPlanned, progress: 0 };
    stopWatching = subscribe<{
      volumeProgress: {
        status: string;
        slicesDone: number;
        slicesPlanned: number;
        progress: number;
        done: boolean;
      };
    }>(
      'subscription VolumeProgress($id: ID!) { volumeProgress(jobId: $id) { status slicesDone slicesPlanned progress done } }',
      { id: job.jobId },
      {
        next: ({ volumeProgress: e }) => {
          state.events++;
          if (state.job)
            Object.assign(state.job, {
              status: e.status,
              done: e.slicesDone,
              planned: e.slicesPlanned,
              progress: e.progress,
            });
          if (e.done) void fetchResult(job.jobId);
          requestUpdate();
        },
        error: fail,
      },
    );
  } catch (err: unknown) {
    fail(err);
  }
  requestUpdate();
}

async function fetchResult(id: string): Promise<void> {
  try {
    const d = await gql<{
      volumeJob: {
        status: string;
        error: { code: string; message: string } | null;
        result: {
          slices: SliceMask[];
          nifti: string | null;
          dicomSeg: { base64: string } | null;
          stoppedUp: string;
          stoppedDown: string;
        } | null;
      } | null;
    }>(
      'query VolumeResult($id: ID!) { volumeJob(jobId: $id) { status error { code message } result { slices { slice rle { size counts } area } nifti dicomSeg { base64 } stoppedUp stoppedDown } } }',
      { id },
    );
    const j = d.volumeJob;
    if (!j) throw new Error(`volume job ${id} is gone`);
    if (state.job) state.job.status = j.status;
    if (j.error) state.error = `${j.error.code}: ${j.error.message}`;
    if (j.result) {
      for (const s of j.result.slices) state.masks.set(s.slice, s);
      state.nifti = j.result.nifti ?? '';
      state.dicomSeg = j.result.dicomSeg?.base64 ?? '';
      state.stopped = `stopped up: ${j.result.stoppedUp.toLowerCase()}, down: ${j.result.stoppedDown.toLowerCase()}`;
    }
    await showSlice(state.slice);
  } catch (err: unknown) {
    fail(err);
  }
}

async function cancel(): Promise<void> {
  if (!state.job) return;
  try {
    await gql('mutation Cancel($id: ID!) { cancelVolume(jobId: $id) }', { id: state.job.id });
  } catch (err: unknown) {
    fail(err);
  }
}

function download(base64: string, type: string, name: string): void {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([fromBase64(base64) as BlobPart], { type }));
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
}

function baseName(): string {
  return (state.file?.name ?? 'volume').replace(/\.(nii(\.gz)?|dcm)$/i, '');
}

function exportNifti(): void {
  if (state.nifti) download(state.nifti, 'application/gzip', `${baseName()}-labels.nii.gz`);
}

function exportSeg(): void {
  if (state.dicomSeg) download(state.dicomSeg, 'application/dicom', `${baseName()}-seg.dcm`);
}

/** The volume view's template. */
export function volumeView(update: () => void): TemplateResult {
  requestUpdate = update;
  const running = state.job?.status === 'RUNNING';
  const d = state.drag;
  const b = state.box && state.keySlice === state.slice ? state.box : null;
  return html`<section class="volume" aria-label="Volume">
    <div class="toolbar">
      <label
        >Open a NIfTI volume or a DICOM series (all its files)
        <input
          id="volume-file"
          type="file"
          multiple
          accept=".nii,.gz,.dcm,application/dicom"
          @change=${onFile}
      /></label>
      ${
        state.file
          ? html`<label
                >Slice
                <input
                  id="volume-slice"
                  type="range"
                  min="0"
                  max=${state.slices - 1}
                  .value=${String(state.slice)}
                  @input=${(e: Event) => void showSlice(Number((e.target as HTMLInputElement).value))}
                />
                <output>${state.slice} / ${state.slices - 1}</output></label
              >
              <button
                type="button"
                id="propagate"
                ?disabled=${!state.box || running}
                @click=${() => void propagate()}
              >
                Propagate from slice ${state.keySlice ?? state.slice}
              </button>
              <button type="button" id="volume-cancel" ?disabled=${!running} @click=${() => void cancel()}>
                Cancel
              </button>
              <button type="button" id="volume-export" ?disabled=${!state.nifti} @click=${exportNifti}>
                Export NIfTI labels
              </button>
              ${
                state.series
                  ? html`<button
                      type="button"
                      id="volume-seg"
                      ?disabled=${!state.dicomSeg}
                      @click=${exportSeg}
                    >
                      Export DICOM SEG
                    </button>`
                  : nothing
              }`
          : nothing
      }
    </div>
    ${
      state.job
        ? html`<p
            class="status"
            role="status"
            data-status=${state.job.status}
            data-events=${String(state.events)}
          >
            <progress
              id="volume-progress"
              max="1"
              .value=${state.job.progress}
              aria-label="Propagation progress"
            ></progress>
            ${state.job.status.toLowerCase()}: ${state.job.done}/${state.job.planned} slices
            ${state.stopped ? `(${state.stopped})` : ''}
          </p>`
        : html`<p class="status" role="status">
            ${state.file ? 'Draw a box on the key slice, then propagate.' : 'Open a NIfTI volume or a DICOM series.'}
          </p>`
    }
    ${state.error ? html`<p class="error" role="alert">${state.error}</p>` : nothing}
    ${
      state.file && state.width
        ? html`<div
            data-instance=${state.series ? (state.seriesUids[state.slice] ?? '') : nothing}
            class="stage"
            style=${`width:${Math.max(state.width, 384)}px;aspect-ratio:${state.width}/${state.height}`}
          >
            ${baseCanvas}${overlayCanvas}
            <svg
              class="layer prompts"
              id="volume-layer"
              viewBox=${`0 0 ${state.width} ${state.height}`}
              preserveAspectRatio="none"
              role="application"
              aria-label="Slice: drag a box on the key slice"
              @pointerdown=${(ev: PointerEvent) => {
                if (running || ev.button !== 0) return;
                (ev.currentTarget as Element).setPointerCapture(ev.pointerId);
                const p = imagePoint(ev);
                state.drag = { x0: p.x, y0: p.y, x1: p.x, y1: p.y };
              }}
              @pointermove=${(ev: PointerEvent) => {
                if (!state.drag) return;
                const p = imagePoint(ev);
                state.drag.x1 = p.x;
                state.drag.y1 = p.y;
                requestUpdate();
              }}
              @pointerup=${() => {
                const g = state.drag;
                state.drag = null;
                if (!g || Math.abs(g.x1 - g.x0) < 2 || Math.abs(g.y1 - g.y0) < 2) return requestUpdate();
                state.box = {
                  x0: Math.min(g.x0, g.x1),
                  y0: Math.min(g.y0, g.y1),
                  x1: Math.max(g.x0, g.x1),
                  y1: Math.max(g.y0, g.y1),
                };
                state.keySlice = state.slice;
                requestUpdate();
              }}
            >
              ${b ? svg`<rect class="box" x=${b.x0} y=${b.y0} width=${b.x1 - b.x0} height=${b.y1 - b.y0}></rect>` : nothing}
              ${
                d
                  ? svg`<rect class="box drawing" x=${Math.min(d.x0, d.x1)} y=${Math.min(d.y0, d.y1)} width=${Math.abs(d.x1 - d.x0)} height=${Math.abs(d.y1 - d.y0)}></rect>`
                  : nothing
              }
            </svg>
          </div>`
        : nothing
    }
  </section>`;
}
