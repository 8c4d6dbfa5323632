/** The profile of each SAM family, by the name an encoder's config declares in `sam.profile`. */
import type { ProfileName } from '../contract.ts';
import type { SamProfile } from '../profile.ts';
import { medsamProfile } from './medsam.ts';
import { samHwcProfile } from './sam-hwc.ts';
import { samProfile } from './sam.ts';

/** Every profile, by name. A new family is one file in this folder and one line here. */
export const PROFILES: Readonly<Record<ProfileName, SamProfile>> = {
  sam: samProfile,
  medsam: medsamProfile,
  sam_hwc: samHwcProfile,
};

/** The profile of a family. */
export function profileOf(name: ProfileName): SamProfile {
  return PROFILES[name];
}
