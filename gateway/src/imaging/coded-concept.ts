/** Coded concepts (DICOM PS3.3 8.8 Code Sequence Macro) and a few segmentation codes from PS3.16. */

/** A coded entry: Code Value (0008,0100), Coding Scheme Designator (0008,0102), Code Meaning (0008,0104). */
export interface CodedConcept {
  value: string;
  scheme: string;
  meaning: string;
}

/**
 * Segmentation property codes used by the gateway (SNOMED CT, scheme "SCT"), from DICOM PS3.16 CID 7150
 * (Segmentation Property Categories) and CID 7166/4 (anatomic structures).
 */
export const SEGMENTATION_CODES = Object.freeze({
  anatomicalStructure: { value: '123037004', scheme: 'SCT', meaning: 'Anatomical Structure' },
  tissue: { value: '85756007', scheme: 'SCT', meaning: 'Tissue' },
  morphologicallyAbnormalStructure: {
    value: '49755003',
    scheme: 'SCT',
    meaning: 'Morphologically Abnormal Structure',
  },
  liver: { value: '10200004', scheme: 'SCT', meaning: 'Liver' },
  lung: { value: '39607008', scheme: 'SCT', meaning: 'Lung' },
  kidney: { value: '64033007', scheme: 'SCT', meaning: 'Kidney' },
  heart: { value: '80891009', scheme: 'SCT', meaning: 'Heart' },
  neoplasm: { value: '108369006', scheme: 'SCT', meaning: 'Neoplasm' },
} satisfies Record<string, CodedConcept>);
