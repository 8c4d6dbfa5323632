/** Long-lived services of the medical API: PACS endpoints, volume jobs, and pixel spacings of embeddings. */
import type { GatewayConfig } from '../../config.ts';
import { PacsRegistry } from './pacs.ts';
import type { BoxArg } from '../resolver-kit.ts';
import type { DicomSegOut } from './seg.ts';
import { VolumeJobStore } from '../propagation-jobs.ts';
import type { PubSub } from '../pubsub.ts';

/** Remembers the pixel spacing [sy, sx] (mm) an embedding's image came with, for the most recent ids. */
export class SpacingMemo {
  private readonly entries = new Map<string, [number, number]>();

  constructor(private readonly maxEntries = 4096) {}

  /** Records the spacing of an embedding id (nothing when the image had none). */
  remember(id: string, spacing: [number, number] | undefined): void {
    if (!spacing) return;
    this.entries.delete(id);
    this.entries.set(id, [spacing[0], spacing[1]]);
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  /** The spacing of an embedding id, when known. */
  get(id: string): [number, number] | undefined {
    return this.entries.get(id);
  }
}

/** The VolumeSegmentResult GraphQL object. */
export interface VolumeResultOut {
  model: string;
  keySlice: number;
  dims: number[];
  spacing: number[] | null;
  slices: Array<{
    slice: number;
    rle: { size: [number, number]; counts: string };
    area: number;
    predictedIou: number;
    bbox: { x: number; y: number; width: number; height: number };
    box: BoxArg | null;
    sopInstanceUID: string | null;
  }>;
  stoppedUp: string;
  stoppedDown: string;
  nifti: string | null;
  dicomSeg: DicomSegOut | null;
  elapsedMs: number;
}

/** The medical API's services (one per gateway). */
export interface MedicalServices {
  pacs: PacsRegistry;
  volumeJobs: VolumeJobStore<VolumeResultOut>;
  spacings: SpacingMemo;
}

/** Builds the medical services from the configuration. */
export function createMedicalServices(
  config: Pick<GatewayConfig, 'pacsEndpoints' | 'pacsTimeoutMs' | 'pacsMaxResponseBytes' | 'maxVolumeJobs'>,
  pubsub: PubSub,
): MedicalServices {
  return {
    pacs: new PacsRegistry(config.pacsEndpoints, config.pacsTimeoutMs, config.pacsMaxResponseBytes),
    volumeJobs: new VolumeJobStore<VolumeResultOut>(pubsub, { maxJobs: config.maxVolumeJobs }),
    spacings: new SpacingMemo(),
  };
}
