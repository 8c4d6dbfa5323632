/**
 * A small DICOMweb client (PS3.18): QIDO-RS search (10.6), WADO-RS instance retrieval as multipart/related
 * application/dicom (10.4), STOW-RS store (10.5). It only talks to the one configured endpoint.
 */
import { randomUUID } from 'node:crypto';
import { buildMultipart, contentTypeParameter, parseMultipart } from './multipart.ts';

/** A configured DICOMweb service root, e.g. `http://127.0.0.1:8042/dicom-web`. */
export interface DicomWebEndpoint {
  /** Service root URL (http or https), without a trailing slash or with one. */
  baseUrl: string;
  /** Extra request headers, e.g. `{ Authorization: 'Bearer ...' }`. */
  headers?: Record<string, string>;
  /** Per-request time limit in milliseconds. */
  timeoutMs: number;
  /** Largest accepted response body in bytes; default 1 GiB. */
  maxResponseBytes?: number;
}

/**
 * Why a DICOMweb call failed: unreachable or timed out; answered with an error status; no such resource; or
 * refused before sending (a malformed UID, nothing to store).
 */
export type DicomWebErrorCode = 'PACS_UNAVAILABLE' | 'PACS_ERROR' | 'NOT_FOUND' | 'BAD_ARGUMENT';

/** A failed DICOMweb call with a public code and, when the PACS answered, its HTTP status. */
export class DicomWebError extends Error {
  readonly code: DicomWebErrorCode;
  readonly status?: number;
  /**
   * The start of the PACS's own error body, for the gateway's logs only: it can hold the PACS's internals
   * (stack traces, paths, versions), so it is never part of `message`.
   */
  readonly detail?: string;

  constructor(
    code: DicomWebErrorCode,
    message: string,
    status?: number,
    options?: { cause?: unknown; detail?: string },
  ) {
    super(message, options);
    this.name = 'DicomWebError';
    this.code = code;
    if (status !== undefined) this.status = status;
    if (options?.detail) this.detail = options.detail;
  }
}

/** A DICOM JSON dataset (PS3.18 F.2): tags "GGGGEEEE" to `{ vr, Value? }`. */
export type DicomJson = Record<
  string,
  { vr: string; Value?: unknown[]; BulkDataURI?: string; InlineBinary?: string }
>;

/** The first value of a tag in a DICOM JSON dataset as a string (PN as its Alphabetic form), or undefined. */
export function dicomJsonString(dataset: DicomJson, tag: string): string | undefined {
  const v = dataset[tag]?.Value?.[0];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'object' && 'Alphabetic' in v) return String((v as { Alphabetic: unknown }).Alphabetic);
  return String(v);
}

/** QIDO-RS query parameters: attribute keywords or tags to match values, plus limit, offset, includefield. */
export type QidoQuery = Record<string, string | number | boolean | string[]>;

/** One instance a STOW-RS request stored or failed to store. */
export interface StowInstance {
  sopClassUid?: string;
  sopInstanceUid?: string;
  retrieveUrl?: string;
  failureReason?: number;
}

/** The outcome of a STOW-RS request (PS3.18 10.5.3): stored and failed instances. */
export interface StowResult {
  status: number;
  stored: StowInstance[];
  failed: StowInstance[];
}

const UID = /^[0-9]+(\.[0-9]+)*$/;

function checkUid(uid: string, what: string): string {
  if (uid.length > 64 || !UID.test(uid))
    throw new DicomWebError(
      'BAD_ARGUMENT',
      `${what} must be a DICOM UID (digits and dots, <= 64), got "${uid}"`,
    );
  return uid;
}

/**
 * A DICOMweb client bound to one endpoint; every path component it sends is a validated UID. Every method
 * returns a promise; bad arguments reject with DicomWebError BAD_ARGUMENT, failed calls with its other codes.
 */
export class DicomWebClient {
  readonly #root: URL;
  readonly #endpoint: DicomWebEndpoint;

  constructor(endpoint: DicomWebEndpoint) {
    let root: URL;
    try {
      root = new URL(endpoint.baseUrl);
    } catch {
      throw new RangeError(`DICOMweb baseUrl must be an absolute URL, got "${endpoint.baseUrl}"`);
    }
    if (root.protocol !== 'http:' && root.protocol !== 'https:') {
      throw new RangeError(`DICOMweb baseUrl must be http or https, got ${root.protocol}`);
    }
    if (!(endpoint.timeoutMs > 0))
      throw new RangeError(`timeoutMs must be positive, got ${endpoint.timeoutMs}`);
    if (!root.pathname.endsWith('/')) root.pathname += '/';
    this.#root = root;
    this.#endpoint = { ...endpoint, headers: { ...endpoint.headers } };
  }

  /** QIDO-RS: studies matching the query (GET {root}/studies). */
  async searchStudies(query: QidoQuery = {}): Promise<DicomJson[]> {
    return this.#search(['studies'], query);
  }

  /** QIDO-RS: series, of one study when `studyUid` is given. */
  async searchSeries(studyUid?: string, query: QidoQuery = {}): Promise<DicomJson[]> {
    const path = studyUid === undefined ? ['series'] : ['studies', checkUid(studyUid, 'study UID'), 'series'];
    return this.#search(path, query);
  }

  /** QIDO-RS: instances, of one study or one series when given. */
  async searchInstances(studyUid?: string, seriesUid?: string, query: QidoQuery = {}): Promise<DicomJson[]> {
    const path: string[] = [];
    if (studyUid !== undefined) path.push('studies', checkUid(studyUid, 'study UID'));
    if (seriesUid !== undefined) {
      if (studyUid === undefined) throw new DicomWebError('BAD_ARGUMENT', 'a series UID needs its study UID');
      path.push('series', checkUid(seriesUid, 'series UID'));
    }
    path.push('instances');
    return this.#search(path, query);
  }

  /** WADO-RS: one instance as Part 10 bytes (multipart/related; type="application/dicom"). */
  async retrieveInstance(studyUid: string, seriesUid: string, sopInstanceUid: string): Promise<Uint8Array> {
    const parts = await this.#retrieve([
      'studies',
      checkUid(studyUid, 'study UID'),
      'series',
      checkUid(seriesUid, 'series UID'),
      'instances',
      checkUid(sopInstanceUid, 'SOP instance UID'),
    ]);
    if (parts.length !== 1)
      throw new DicomWebError('PACS_ERROR', `WADO-RS instance answer has ${parts.length} parts, expected 1`);
    return parts[0];
  }

  /** WADO-RS: all instances of a series as Part 10 bytes. */
  async retrieveSeries(studyUid: string, seriesUid: string): Promise<Uint8Array[]> {
    return this.#retrieve([
      'studies',
      checkUid(studyUid, 'study UID'),
      'series',
      checkUid(seriesUid, 'series UID'),
    ]);
  }

  /** STOW-RS: stores Part 10 files (POST {root}/studies[/{study}]) and reports what was stored. */
  async store(files: Uint8Array[], studyUid?: string): Promise<StowResult> {
    if (files.length === 0) throw new DicomWebError('BAD_ARGUMENT', 'STOW-RS needs at least one file');
    const boundary = `medseg-${randomUUID()}`;
    const body = buildMultipart(
      files.map((f) => ({ contentType: 'application/dicom', body: f })),
      boundary,
    );
    const path = studyUid === undefined ? ['studies'] : ['studies', checkUid(studyUid, 'study UID')];
    const res = await this.#fetch(
      path,
      undefined,
      {
        method: 'POST',
        headers: {
          'Content-Type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
          Accept: 'application/dicom+json',
        },
        body,
      },
      [200, 202, 409],
    );
    const text = new TextDecoder().decode(await this.#read(res));
    let json: DicomJson = {};
    if (text.trim() !== '') {
      try {
        json = JSON.parse(text) as DicomJson;
      } catch (err) {
        throw new DicomWebError(
          'PACS_ERROR',
          `STOW-RS answer is not DICOM JSON: ${(err as Error).message}`,
          res.status,
        );
      }
    }
    const instances = (tag: string): StowInstance[] =>
      ((json[tag]?.Value ?? []) as DicomJson[]).map((item) => {
        const out: StowInstance = {};
        const cls = dicomJsonString(item, '00081150');
        const uid = dicomJsonString(item, '00081155');
        const url = dicomJsonString(item, '00081190');
        const reason = dicomJsonString(item, '00081197');
        if (cls !== undefined) out.sopClassUid = cls;
        if (uid !== undefined) out.sopInstanceUid = uid;
        if (url !== undefined) out.retrieveUrl = url;
        if (reason !== undefined) out.failureReason = Number(reason);
        return out;
      });
    const result = { status: res.status, stored: instances('00081199'), failed: instances('00081198') };
    if (res.status === 409 || (result.stored.length === 0 && result.failed.length > 0)) {
      throw new DicomWebError(
        'PACS_ERROR',
        `STOW-RS stored none of ${files.length} instances (failure reasons ${result.failed.map((f) => f.failureReason).join(', ')})`,
        res.status,
      );
    }
    return result;
  }

  async #search(path: string[], query: QidoQuery): Promise<DicomJson[]> {
    const res = await this.#fetch(
      path,
      query,
      { method: 'GET', headers: { Accept: 'application/dicom+json' } },
      [200, 204],
    );
    const bytes = await this.#read(res);
    if (res.status === 204 || bytes.length === 0) return [];
    try {
      const json = JSON.parse(new TextDecoder().decode(bytes)) as unknown;
      if (!Array.isArray(json)) throw new Error('expected a JSON array');
      return json as DicomJson[];
    } catch (err) {
      throw new DicomWebError(
        'PACS_ERROR',
        `QIDO-RS answer is not a DICOM JSON array: ${(err as Error).message}`,
        res.status,
      );
    }
  }

  async #retrieve(path: string[]): Promise<Uint8Array[]> {
    const res = await this.#fetch(
      path,
      undefined,
      {
        method: 'GET',
        headers: { Accept: 'multipart/related; type="application/dicom"; transfer-syntax=*' },
      },
      [200],
    );
    const contentType = res.headers.get('content-type') ?? '';
    const bytes = await this.#read(res);
    if (contentType.toLowerCase().startsWith('application/dicom')) return [bytes];
    const boundary = contentTypeParameter(contentType, 'boundary');
    if (!contentType.toLowerCase().startsWith('multipart/related') || boundary === undefined) {
      throw new DicomWebError(
        'PACS_ERROR',
        `WADO-RS answered "${contentType}", expected multipart/related with a boundary`,
        res.status,
      );
    }
    try {
      return parseMultipart(bytes, boundary).map((p) => p.body);
    } catch (err) {
      throw new DicomWebError(
        'PACS_ERROR',
        `WADO-RS multipart answer is malformed: ${(err as Error).message}`,
        res.status,
      );
    }
  }

  async #fetch(
    path: string[],
    query: QidoQuery | undefined,
    init: RequestInit,
    ok: number[],
  ): Promise<Response> {
    const url = new URL(path.map(encodeURIComponent).join('/'), this.#root);
    for (const [key, value] of Object.entries(query ?? {})) {
      for (const v of Array.isArray(value) ? value : [value]) url.searchParams.append(key, String(v));
    }
    let res: Response;
    try {
      res = await fetch(url, {
        ...init,
        headers: { ...this.#endpoint.headers, ...(init.headers as Record<string, string>) },
        signal: AbortSignal.timeout(this.#endpoint.timeoutMs),
        redirect: 'error',
      });
    } catch (err) {
      const name = (err as Error).name;
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      const why =
        name === 'TimeoutError' || name === 'AbortError'
          ? `timed out after ${this.#endpoint.timeoutMs} ms`
          : (cause ?? (err as Error).message);
      throw new DicomWebError(
        'PACS_UNAVAILABLE',
        `DICOMweb ${init.method} ${path.map(encodeURIComponent).join('/')} failed: ${why}`,
        undefined,
        { cause: err },
      );
    }
    // Messages name the resource below the service root, never the PACS's own URL.
    const where = path.map(encodeURIComponent).join('/');
    if (!ok.includes(res.status)) {
      const detail = new TextDecoder()
        .decode(await this.#readCapped(res, 4096, true).catch(() => new Uint8Array()))
        .slice(0, 200);
      const code =
        res.status === 404
          ? 'NOT_FOUND'
          : res.status === 503 || res.status === 502 || res.status === 504
            ? 'PACS_UNAVAILABLE'
            : 'PACS_ERROR';
      throw new DicomWebError(
        code,
        `DICOMweb ${init.method} ${where} answered HTTP ${res.status}`,
        res.status,
        {
          detail,
        },
      );
    }
    return res;
  }

  async #read(res: Response): Promise<Uint8Array> {
    const limit = this.#endpoint.maxResponseBytes ?? 1 << 30;
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (declared > limit) {
      await res.body?.cancel();
      throw new DicomWebError(
        'PACS_ERROR',
        `DICOMweb answer of ${declared} bytes exceeds the limit of ${limit}`,
        res.status,
      );
    }
    try {
      return await this.#readCapped(res, limit, false);
    } catch (err) {
      if (err instanceof DicomWebError) throw err;
      throw new DicomWebError(
        'PACS_UNAVAILABLE',
        `DICOMweb answer could not be read: ${(err as Error).message}`,
        res.status,
        { cause: err },
      );
    }
  }

  /**
   * Reads a body chunk by chunk and stops at `limit` bytes: over it, the stream is cancelled and the call
   * fails (or, with `truncate`, what was read is returned), so a PACS that streams without end or lies in
   * its Content-Length never makes the gateway hold more than the limit.
   */
  async #readCapped(res: Response, limit: number, truncate: boolean): Promise<Uint8Array> {
    if (!res.body) return new Uint8Array();
    const reader = res.body.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (size + value.length > limit) {
        await reader.cancel();
        if (truncate) {
          chunks.push(value.subarray(0, limit - size));
          size = limit;
          break;
        }
        throw new DicomWebError(
          'PACS_ERROR',
          `DICOMweb answer exceeds the limit of ${limit} bytes (stopped reading there)`,
          res.status,
        );
      }
      chunks.push(value);
      size += value.length;
    }
    const out = new Uint8Array(size);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}
