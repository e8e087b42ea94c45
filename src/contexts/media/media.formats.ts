// The file formats an upload may be, and how each is recognised from its first bytes.

export const IMAGE_TYPES = ['image/jpeg', 'image/png', 'image/webp', 'image/gif'] as const;
export const VIDEO_TYPES = ['video/mp4', 'video/webm'] as const;
export const MEDIA_TYPES = [...IMAGE_TYPES, ...VIDEO_TYPES] as const;
export type MediaType = (typeof MEDIA_TYPES)[number];

export function isMediaType(value: string): value is MediaType {
  return (MEDIA_TYPES as readonly string[]).includes(value);
}

export function isVideoType(type: MediaType): boolean {
  return (VIDEO_TYPES as readonly string[]).includes(type);
}

const ascii = (bytes: Buffer, at: number, text: string) => bytes.toString('latin1', at, at + text.length) === text;

/**
 * ISO base media brands that are not video though they share MP4's `ftyp` box: still images and image sequences
 * (HEIF, AVIF) and audio only (M4A, M4B, M4P).
 */
const NOT_VIDEO_BRANDS = new Set(['heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'mif1', 'msf1', 'avif', 'avis', 'M4A ', 'M4B ', 'M4P ']);

/**
 * An `ftyp` box first: its size covers the type, the major brand and the minor version, in whole 4-byte words, and a
 * short list of compatible brands (a few dozen bytes in practice; 4 KiB is generous).
 */
function ftypBrand(bytes: Buffer): string | null {
  if (bytes.length < 16 || !ascii(bytes, 4, 'ftyp')) return null;
  const size = bytes.readUInt32BE(0);
  return size >= 16 && size <= 4096 && size % 4 === 0 ? bytes.toString('latin1', 8, 12) : null;
}

/**
 * The type the file's first bytes (its magic number) say it is, or null when none of ours. Only the signature is
 * read, never the whole file: a decoder bug cannot be reached through an upload.
 */
export function sniffMediaType(bytes: Buffer): MediaType | null {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  if (ascii(bytes, 0, '\x89PNG\r\n\x1a\n')) return 'image/png';
  if (ascii(bytes, 0, 'GIF87a') || ascii(bytes, 0, 'GIF89a')) return 'image/gif';
  if (ascii(bytes, 0, 'RIFF') && ascii(bytes, 8, 'WEBP')) return 'image/webp';
  // ISO base media (MP4): a box of type `ftyp` first, whose major brand is a video one
  const brand = ftypBrand(bytes);
  if (brand !== null && !NOT_VIDEO_BRANDS.has(brand)) return 'video/mp4';
  // EBML (Matroska) whose header declares the DocType "webm"
  if (bytes.length >= 4 && bytes.readUInt32BE(0) === 0x1a45dfa3 && bytes.subarray(0, 64).includes('webm', 0, 'latin1')) return 'video/webm';
  return null;
}
