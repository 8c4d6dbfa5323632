/**
 * Resolvers the web app needs to present the API to a person: who is calling (`viewer`) and the image as the
 * model sees it (`renderImage`), so browsers can display TIFF, DICOM and NIfTI inputs they cannot decode.
 */
import type { GraphQLResolveInfo } from 'graphql';
import { encodePng } from '../imaging/encode-png.ts';
import { toUint8 } from '../sam/session.ts';
import type { ApiContext } from './context.ts';
import { ApiError } from './errors.ts';
import { readImageInput, type ImageInputArg } from './image-input.ts';
import { requirementOf, satisfies } from '../security/roles.ts';

/** The resolver map of `viewer` and `renderImage` (merged into Query by resolvers.ts). */
export const viewerResolvers = {
  Query: {
    viewer: (_: unknown, __: unknown, ctx: ApiContext, info: GraphQLResolveInfo) => {
      const p = ctx.principal;
      // The auth plugin refuses anonymous operations before resolvers run; this guards a future bypass.
      if (!p) throw new ApiError('UNAUTHENTICATED', 'no credential');
      const roots = [
        info.schema.getQueryType(),
        info.schema.getMutationType(),
        info.schema.getSubscriptionType(),
      ];
      const allowedFields = roots
        .flatMap((t) => (t ? Object.keys(t.getFields()) : []))
        .filter((f) => satisfies(p.roles, requirementOf(f)))
        .sort();
      return { kind: p.kind, id: p.id, roles: [...p.roles], allowedFields };
    },
    renderImage: async (_: unknown, args: { image: ImageInputArg }, ctx: ApiContext) => {
      const { config, medical } = ctx.services;
      const raster = await readImageInput(args.image, {
        maxBytes: config.maxBodyBytes,
        maxPixels: config.maxPixels,
        dataRoots: config.dataRoots,
        pacs: medical.pacs,
      });
      // The same 8-bit conversion the encoder applies, so the picture is exactly what was segmented.
      const png = Buffer.from(encodePng(toUint8(raster))).toString('base64');
      return { png, width: raster.width, height: raster.height, spacing: raster.spacing ?? null };
    },
  },
};
