/** DICOM UIDs derived from UUIDs (PS3.5 B.2: the "2.25." root followed by the UUID as a decimal integer). */
import { randomUUID } from 'node:crypto';

/** A new globally unique DICOM UID of the form 2.25.<128-bit random UUID as an unsigned decimal>. */
export function newDicomUid(): string {
  return `2.25.${BigInt(`0x${randomUUID().replace(/-/g, '')}`).toString(10)}`;
}
