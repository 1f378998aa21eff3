// ANNOTATIONS/*.geojson: a FeatureCollection of features with valid geometries (RFC 7946 §3).
// Stricter than the RFC in one place: a feature's geometry may not be null, because PIMS turns each
// feature into a shape with shapely's `shape(feature["geometry"])`, which fails on null
// (cytomine/cytomine: pims/pims/importer/annotation.py).
import { z } from "zod";

/** RFC 7946 §3.1.1: at least two numbers. */
const Position = z.array(z.number()).min(2, "a position has at least 2 numbers");
const LineCoords = z.array(Position).min(2, "a LineString has at least 2 positions");
/** RFC 7946 §3.1.6: a linear ring is closed and has at least 4 positions. */
const Ring = z
    .array(Position)
    .min(4, "a polygon ring has at least 4 positions")
    .refine((r) => r.length < 4 || r[0].every((v, i) => v === r[r.length - 1][i]), {
        message: "a polygon ring ends where it starts",
    });
const PolygonCoords = z.array(Ring);

const Point = z.object({ type: z.literal("Point"), coordinates: Position });
const MultiPoint = z.object({ type: z.literal("MultiPoint"), coordinates: z.array(Position) });
const LineString = z.object({ type: z.literal("LineString"), coordinates: LineCoords });
const MultiLineString = z.object({ type: z.literal("MultiLineString"), coordinates: z.array(LineCoords) });
const Polygon = z.object({ type: z.literal("Polygon"), coordinates: PolygonCoords });
const MultiPolygon = z.object({ type: z.literal("MultiPolygon"), coordinates: z.array(PolygonCoords) });

type Geometry =
    | z.infer<typeof Point>
    | z.infer<typeof MultiPoint>
    | z.infer<typeof LineString>
    | z.infer<typeof MultiLineString>
    | z.infer<typeof Polygon>
    | z.infer<typeof MultiPolygon>
    | { type: "GeometryCollection"; geometries: Geometry[] };

const Geometry: z.ZodType<Geometry> = z.lazy(() =>
    z.discriminatedUnion("type", [
        Point,
        MultiPoint,
        LineString,
        MultiLineString,
        Polygon,
        MultiPolygon,
        z.object({ type: z.literal("GeometryCollection"), geometries: z.array(Geometry) }),
    ]),
);

const Feature = z.object({
    type: z.literal("Feature"),
    geometry: Geometry,
    properties: z.record(z.string(), z.unknown()).nullable().optional(),
});

export const FeatureCollection = z.object({
    type: z.literal("FeatureCollection"),
    features: z.array(Feature),
});

export type GeoJsonResult =
    { ok: true; features: number } | { ok: false; code: "GEOJSON_INVALID_JSON" | "GEOJSON_INVALID"; message: string };

export function checkGeoJson(text: string): GeoJsonResult {
    let value: unknown;
    try {
        value = JSON.parse(text);
    } catch (e) {
        return { ok: false, code: "GEOJSON_INVALID_JSON", message: e instanceof Error ? e.message : String(e) };
    }
    const r = FeatureCollection.safeParse(value);
    if (r.success) return { ok: true, features: r.data.features.length };
    const issue = r.error.issues[0];
    const where = issue.path.length > 0 ? issue.path.map((p) => String(p)).join(".") : "(document)";
    const more = r.error.issues.length > 1 ? ` (+${r.error.issues.length - 1} more)` : "";
    return { ok: false, code: "GEOJSON_INVALID", message: `${where}: ${issue.message}${more}` };
}
