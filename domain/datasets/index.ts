// Bigpicture dataset tree validation (see validate.ts for the layout and its sources).
export { validateTree, DEFAULTS } from "./validate";
export { WSI_MODALITY, WSI_SOP_CLASS_UID } from "./dicom";
export * from "./types";
