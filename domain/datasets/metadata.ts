// METADATA/*.xml with fast-xml-parser: a well-formedness check first (for its line and column),
// then a parse whose element lookups mirror the ElementTree paths PIMS's importer uses
// (cytomine/cytomine: pims/pims/importer/dataset.py, image.py, annotation.py).
import { XMLParser, XMLValidator } from "fast-xml-parser";

/** A parsed element: child elements by name (one or several), attributes under "@_". */
type XmlNode = { [key: string]: unknown };

export type XmlResult = { ok: true; doc: XmlNode } | { ok: false; message: string };

const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: "@_",
    // Aliases such as "1" stay strings.
    parseTagValue: false,
    parseAttributeValue: false,
});

/** Well-formedness only: enough for the METADATA files PIMS hands whole to bigpicture_metadata_interface. */
export function checkXml(text: string): { ok: true } | { ok: false; message: string } {
    const v = XMLValidator.validate(text);
    return v === true ? { ok: true } : { ok: false, message: `line ${v.err.line}, column ${v.err.col}: ${v.err.msg}` };
}

/** Well-formedness, then a parse for the files whose content is cross-checked. */
export function parseXml(text: string): XmlResult {
    const v = checkXml(text);
    if (!v.ok) return v;
    try {
        return { ok: true, doc: parser.parse(text) as XmlNode };
    } catch (e) {
        return { ok: false, message: e instanceof Error ? e.message : String(e) };
    }
}

function children(node: XmlNode): [string, XmlNode][] {
    const out: [string, XmlNode][] = [];
    for (const [k, v] of Object.entries(node)) {
        if (k.startsWith("@_") || k === "#text" || k === "?xml") continue;
        for (const c of Array.isArray(v) ? v : [v]) out.push([k, typeof c === "object" && c !== null ? c : {}]);
    }
    return out;
}

/** The document element (the parsed object holds it beside the XML declaration). */
export function documentElement(doc: XmlNode): [string, XmlNode] | undefined {
    return children(doc)[0];
}

/** ElementTree's `el.findall(".//NAME")`: descendants of `el` (not `el` itself), in document order. */
export function descendants(el: XmlNode, name: string): XmlNode[] {
    const out: XmlNode[] = [];
    const walk = (n: XmlNode) => {
        for (const [k, c] of children(n)) {
            if (k === name) out.push(c);
            walk(c);
        }
    };
    walk(el);
    return out;
}

/** ElementTree's `el.findall("NAME")`: direct children named NAME. */
export function childElements(el: XmlNode, name: string): XmlNode[] {
    return children(el)
        .filter(([k]) => k === name)
        .map(([, c]) => c);
}

export function attr(el: XmlNode, name: string): string | undefined {
    const v = el[`@_${name}`];
    return typeof v === "string" && v !== "" ? v : undefined;
}

export interface DatasetXml {
    /** Name of the document element, for the message when <DATASET> is missing. */
    rootName: string;
    /** `root.find(".//DATASET")` was found. */
    hasDataset: boolean;
    alias?: string;
    complements?: string;
    imageRefs: string[];
}

/** What PIMS reads from METADATA/dataset.xml: `.//DATASET@alias`, `.//COMPLEMENTS_DATASET_REF@alias`, `.//IMAGE_REF@alias`. */
export function readDatasetXml(doc: XmlNode): DatasetXml {
    const [rootName, root] = documentElement(doc) ?? ["", {}];
    const dataset = descendants(root, "DATASET")[0];
    const complement = descendants(root, "COMPLEMENTS_DATASET_REF")[0];
    return {
        rootName,
        hasDataset: dataset !== undefined,
        alias: dataset && attr(dataset, "alias"),
        complements: complement && attr(complement, "alias"),
        imageRefs: descendants(root, "IMAGE_REF")
            .map((r) => attr(r, "alias"))
            .filter((a): a is string => a !== undefined),
    };
}

export interface AnnotationRef {
    alias?: string;
    imageRef?: string;
    filename?: string;
}

/** What PIMS reads from METADATA/annotation.xml: each root `ANNOTATION`, its `.//IMAGE_REF@alias` and `.//FILE@filename`. */
export function readAnnotationXml(doc: XmlNode): AnnotationRef[] {
    const [, root] = documentElement(doc) ?? ["", {}];
    return childElements(root, "ANNOTATION").map((a) => {
        const image = descendants(a, "IMAGE_REF")[0];
        const file = descendants(a, "FILE")[0];
        return {
            alias: attr(a, "alias"),
            imageRef: image && attr(image, "alias"),
            filename: file && attr(file, "filename"),
        };
    });
}
