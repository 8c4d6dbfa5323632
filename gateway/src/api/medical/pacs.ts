/**
 * The PACS endpoints a request may name (configured, never sent by clients), as DICOMweb clients, and the
 * mapping of DICOMweb failures onto public error codes.
 */
import type { PacsEndpointConfig } from '../../config.ts';
import { DicomWebClient, DicomWebError } from '../../imaging/dicomweb-client.ts';
import { ApiError } from '../errors.ts';

/** Named DICOMweb clients built once from the configuration. */
export class PacsRegistry {
  private readonly clients = new Map<string, DicomWebClient>();

  /**
   * Builds one client per configured endpoint; `timeoutMs` bounds each request, `maxResponseBytes` each
   * answer (counted while it streams).
   */
  constructor(
    endpoints: Readonly<Record<string, PacsEndpointConfig>>,
    timeoutMs: number,
    maxResponseBytes = 1 << 30,
  ) {
    for (const [name, e] of Object.entries(endpoints)) {
      this.clients.set(
        name,
        new DicomWebClient({
          baseUrl: e.baseUrl,
          timeoutMs,
          maxResponseBytes,
          ...(e.authHeader !== undefined ? { headers: { Authorization: e.authHeader } } : {}),
        }),
      );
    }
  }

  /** Configured endpoint names. */
  names(): string[] {
    return [...this.clients.keys()].sort();
  }

  /** The client of a configured endpoint; an unknown name is BAD_REQUEST (listing the known ones). */
  client(name: string): DicomWebClient {
    const c = this.clients.get(name);
    if (!c) {
      const known = this.names();
      throw new ApiError(
        'BAD_REQUEST',
        `pacs '${name}' is not a configured PACS endpoint (configured: ${known.length > 0 ? known.join(', ') : 'none; set PACS_ENDPOINTS'})`,
      );
    }
    return c;
  }
}

/** Runs a DICOMweb call; its DicomWebErrors get `what` (the call and the endpoint) in front of their message. */
export async function pacsCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err: unknown) {
    if (err instanceof DicomWebError)
      throw new DicomWebError(err.code, `${what}: ${err.message}`, err.status, {
        cause: err,
        ...(err.detail !== undefined ? { detail: err.detail } : {}),
      });
    throw err;
  }
}
