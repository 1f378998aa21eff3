// DICOM Part 10 header reading with dicom-parser, from a prefix of the file only.
//
// Why a prefix is enough: a Part 10 file is a 128-byte preamble, "DICM", the group 0002 file meta
// information, then the data set with its elements in increasing tag order (DICOM PS3.10 §7.1,
// PS3.5 §7.1). The attributes checked here are all in groups 0008 and 0020, ahead of the large
// optical-path and per-frame sequences and of the pixel data of a WSI file, so the data set is read
// element by element with dicom-parser and reading stops at the first tag past (0020,000E): a WSI
// file costs the same few elements whatever its size.
import * as dicomParser from "dicom-parser";

/** VL Whole Slide Microscopy Image Storage (DICOM PS3.4 Annex B.5; Supplement 145). */
export const WSI_SOP_CLASS_UID = "1.2.840.10008.5.1.4.1.1.77.1.6";
/** Modality of slide microscopy (DICOM PS3.3 C.7.3.1.1.1). */
export const WSI_MODALITY = "SM";

/** Names of SOP classes an image folder may wrongly hold, for the report (DICOM PS3.4 Annex B.5). */
const SOP_CLASS_NAMES: Record<string, string> = {
    [WSI_SOP_CLASS_UID]: "VL Whole Slide Microscopy Image Storage",
    "1.2.840.10008.5.1.4.1.1.1": "Computed Radiography Image Storage",
    "1.2.840.10008.5.1.4.1.1.2": "CT Image Storage",
    "1.2.840.10008.5.1.4.1.1.4": "MR Image Storage",
    "1.2.840.10008.5.1.4.1.1.7": "Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.66.4": "Segmentation Storage",
    "1.2.840.10008.5.1.4.1.1.77.1.2": "VL Microscopic Image Storage",
    "1.2.840.10008.5.1.4.1.1.77.1.3": "VL Slide-Coordinates Microscopic Image Storage",
    "1.2.840.10008.5.1.4.1.1.77.1.4": "VL Photographic Image Storage",
    "1.2.840.10008.5.1.4.1.1.88.11": "Basic Text SR Storage",
    "1.2.840.10008.5.1.4.1.1.91.1": "Microscopy Bulk Simple Annotations Storage",
    "1.2.840.10008.5.1.4.1.1.104.1": "Encapsulated PDF Storage",
};

export function sopClassName(uid: string): string {
    const name = SOP_CLASS_NAMES[uid];
    return name ? `${name} (${uid})` : uid;
}

/** The attributes read from each file (tag → keyword, DICOM PS3.6). */
export const HEADER_TAGS = {
    sopClassUid: { tag: "x00080016", keyword: "SOPClassUID (0008,0016)" },
    sopInstanceUid: { tag: "x00080018", keyword: "SOPInstanceUID (0008,0018)" },
    modality: { tag: "x00080060", keyword: "Modality (0008,0060)" },
    studyInstanceUid: { tag: "x0020000d", keyword: "StudyInstanceUID (0020,000D)" },
    seriesInstanceUid: { tag: "x0020000e", keyword: "SeriesInstanceUID (0020,000E)" },
} as const;

type HeaderKey = keyof typeof HEADER_TAGS;
const HEADER_KEYS = Object.keys(HEADER_TAGS) as HeaderKey[];
export type DicomHeader = Partial<Record<HeaderKey, string>> & { transferSyntaxUid?: string };

const TRANSFER_SYNTAX = "x00020010";
/** Transfer syntaxes of the data set that change how it is read (DICOM PS3.5 §A.1, A.2, A.3, A.5). */
const IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2";
const EXPLICIT_VR_BIG_ENDIAN = "1.2.840.10008.1.2.2";
const DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1.99";

type Elements = Record<string, dicomParser.Element>;

// Bound once: under the CommonJS interop every `dicomParser.x` is a getter call, and these run per file.
const {
    ByteStream,
    bigEndianByteArrayParser,
    littleEndianByteArrayParser,
    parseDicom,
    readDicomElementExplicit,
    readDicomElementImplicit,
    readPart10Header,
} = dicomParser;
/** (0020,000E) as a number, for comparing peeked tags without building their strings. */
const LAST_TAG_NUMBER = 0x0020000e;

export type HeaderResult =
    /** Not a Part 10 file (no "DICM" at offset 128, or an unreadable file meta group). */
    | { kind: "invalid"; reason: string }
    /** The prefix ended before the attributes could be read: read more of the file. */
    | { kind: "need-more" }
    /** Parsed far enough; `missing` lists the attributes the file does not have. */
    | { kind: "header"; header: DicomHeader; missing: string[] };

function errorText(e: unknown): string {
    if (e instanceof Error) return e.message;
    if (typeof e === "string") return e;
    return String(e);
}

/**
 * Reads the checked attributes from `bytes`, the first bytes of a file (`wholeFile` when they are all
 * of it). Answers "need-more" when the prefix stops before the attributes and the file goes on.
 */
export function parseDicomHeader(bytes: Uint8Array, wholeFile: boolean): HeaderResult {
    // "DICM" at byte 128 (PS3.10 §7.1).
    if (
        bytes.length < 132 ||
        bytes[128] !== 0x44 ||
        bytes[129] !== 0x49 ||
        bytes[130] !== 0x43 ||
        bytes[131] !== 0x4d
    ) {
        if (!wholeFile && bytes.length < 132) return { kind: "need-more" };
        return { kind: "invalid", reason: 'no "DICM" prefix at byte 128 (not a DICOM Part 10 file)' };
    }
    // dicom-parser inflates deflated data sets with Buffer#copy on Node: hand it a Buffer (callers
    // read into Buffers, so this is a no-op for them).
    const view = Buffer.isBuffer(bytes)
        ? bytes
        : (Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) as unknown as Uint8Array);
    let meta: dicomParser.DataSet;
    try {
        meta = readPart10Header(view);
    } catch (e) {
        if (!wholeFile) return { kind: "need-more" };
        return { kind: "invalid", reason: `unreadable file meta information: ${errorText(e)}` };
    }
    const transferSyntax = readString(meta.elements, TRANSFER_SYNTAX, view);
    if (transferSyntax === undefined) {
        if (!wholeFile) return { kind: "need-more" };
        return { kind: "invalid", reason: "no TransferSyntaxUID (0002,0010) in the file meta information" };
    }
    const read =
        transferSyntax === DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN
            ? readDeflated(view)
            : // readPart10Header leaves `position` at the first data set element (untyped in its .d.ts).
              readElements(view, (meta as dicomParser.DataSet & { position: number }).position, transferSyntax);
    if (read.failure !== undefined && wholeFile && Object.keys(read.elements).length === 0)
        return { kind: "invalid", reason: `unreadable data set: ${read.failure}` };
    const header = extract(read.elements, read.bytes);
    header.transferSyntaxUid = transferSyntax;
    const missing = HEADER_KEYS.filter((k) => header[k] === undefined).map((k) => HEADER_TAGS[k].keyword);
    // Tags are in increasing order: once a tag past the last checked one is seen (or the file ends),
    // the missing attributes are really absent.
    if (missing.length > 0 && !wholeFile && !read.passedLast) return { kind: "need-more" };
    return { kind: "header", header, missing };
}

interface ReadElements {
    elements: Elements;
    /** The bytes the elements' offsets refer to (an inflated copy for a deflated data set). */
    bytes: Uint8Array;
    /** A tag past SeriesInstanceUID was reached. */
    passedLast: boolean;
    /** Why reading stopped early (a cut-off or malformed element). */
    failure?: string;
}

/** The data set's elements up to SeriesInstanceUID (0020,000E), read one at a time. */
function readElements(view: Uint8Array, position: number, transferSyntax: string): ReadElements {
    const bigEndian = transferSyntax === EXPLICIT_VR_BIG_ENDIAN;
    const parser = bigEndian ? bigEndianByteArrayParser : littleEndianByteArrayParser;
    const implicit = transferSyntax === IMPLICIT_VR_LITTLE_ENDIAN;
    const stream = new ByteStream(parser, view, position);
    const elements: Elements = {};
    try {
        while (stream.position + 4 <= view.length) {
            // Peek at the tag: an element past the last checked one is never read (it may be a
            // sequence of megabytes, or the pixel data).
            const at = stream.position;
            const tag = parser.readUint16(view, at) * 0x10000 + parser.readUint16(view, at + 2);
            if (tag > LAST_TAG_NUMBER) return { elements, bytes: view, passedLast: true };
            const el = implicit ? readDicomElementImplicit(stream) : readDicomElementExplicit(stream, stream.warnings);
            elements[el.tag] = el;
        }
    } catch (e) {
        return { elements, bytes: view, passedLast: false, failure: errorText(e) };
    }
    return { elements, bytes: view, passedLast: false };
}

/** A deflated data set (rare for WSI) has to be inflated whole: dicom-parser's full parse does it. */
function readDeflated(view: Uint8Array): ReadElements {
    try {
        const dataSet = parseDicom(view, { untilTag: "x7fe00010" });
        return {
            elements: dataSet.elements,
            bytes: dataSet.byteArray as unknown as Uint8Array,
            passedLast: Object.keys(dataSet.elements).some((t) => t > HEADER_TAGS.seriesInstanceUid.tag),
        };
    } catch (e) {
        const partial = (e as { dataSet?: dicomParser.DataSet }).dataSet;
        return {
            elements: partial?.elements ?? {},
            bytes: (partial?.byteArray as unknown as Uint8Array | undefined) ?? view,
            passedLast: false,
            failure: errorText(e),
        };
    }
}

function extract(elements: Elements, view: Uint8Array): DicomHeader {
    const out: DicomHeader = {};
    for (const k of HEADER_KEYS) {
        const v = readString(elements, HEADER_TAGS[k].tag, view);
        if (v !== undefined) out[k] = v;
    }
    return out;
}

/** A string value, if its element lies wholly within the bytes read (padding NULs and spaces removed, PS3.5 §6.2). */
function readString(elements: Elements, tag: string, view: Uint8Array): string | undefined {
    const el = elements[tag];
    if (!el || el.length === 0 || el.dataOffset + el.length > view.length) return undefined;
    let end = el.dataOffset + el.length;
    while (end > el.dataOffset && (view[end - 1] === 0 || view[end - 1] === 0x20)) end--;
    let start = el.dataOffset;
    while (start < end && view[start] === 0x20) start++;
    // Latin-1 decoding (callers pass Buffers): UI and CS values are ASCII (PS3.5 §6.2).
    return start < end ? (view as unknown as Buffer).toString("latin1", start, end) : undefined;
}
