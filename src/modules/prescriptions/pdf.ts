// The printable prescription, made with pdfkit and streamed as it is written (the document is a
// Readable stream the route sends). What it shows: the clinic (name, address, contact) in its brand
// colours from clinic_settings (brand_primary_colour for the heading and rules, brand_secondary_colour
// for the table's header; the clinic has no logo image on file to draw, only brand_logo_url, an
// outside https address the server does not fetch), the doctor with their licence number, the
// patient with number and age at the issue date, the date, the number, the medicines table with
// each item's instructions, the notes and a signature line. Text only in the standard Helvetica
// fonts (no embedded font files), so a test reads it back literally.
import PDFDocument from 'pdfkit';

const DEFAULT_PRIMARY = '#1f4e79';
const DEFAULT_SECONDARY = '#dbe5f1';

const FREQUENCY_TEXT: Record<string, string> = {
  OD: 'OD (once daily)',
  BD: 'BD (twice daily)',
  TDS: 'TDS (three times daily)',
  QID: 'QID (four times daily)',
  PRN: 'PRN (when needed)',
};

interface PdfItem {
  position: number;
  medicineName: string;
  genericName: string | null;
  strength: string | null;
  doseForm: string;
  dose: string;
  frequency: string;
  frequencyCustom: string | null;
  route: string;
  durationDays: number | null;
  quantity: number;
  refills: number;
  instructions: string | null;
}

const text = (value: unknown): string => (value === null || value === undefined ? '' : String(value));

/** Starts writing the PDF of `data` (readPdfData's row) and returns the document: a stream of its bytes. */
export function renderPrescriptionPdf(data: Record<string, unknown>): PDFKit.PDFDocument {
  const primary = text(data.primaryColour) || DEFAULT_PRIMARY;
  const secondary = text(data.secondaryColour) || DEFAULT_SECONDARY;
  const doc = new PDFDocument({ size: 'A4', margin: 50, info: { Title: `Prescription ${text(data.prescriptionNumber)}`, Author: text(data.clinicName) } });
  const left = doc.page.margins.left;
  const width = doc.page.width - left - doc.page.margins.right;

  // The clinic.
  doc.fillColor(primary).font('Helvetica-Bold').fontSize(18).text(text(data.clinicName), { width });
  doc.font('Helvetica').fontSize(9).fillColor('#333333');
  if (data.clinicAddress) doc.text(text(data.clinicAddress), { width });
  const contact = [data.clinicPhone, data.clinicEmail].filter(Boolean).map(text).join(' · ');
  if (contact) doc.text(contact, { width });
  doc
    .moveDown(0.5)
    .strokeColor(primary)
    .lineWidth(2)
    .moveTo(left, doc.y)
    .lineTo(left + width, doc.y)
    .stroke()
    .moveDown(0.8);

  // Who and when.
  doc.fillColor('#000000').fontSize(10);
  const line = (label: string, value: string) => doc.font('Helvetica-Bold').text(`${label}: `, { continued: true }).font('Helvetica').text(value);
  line('Prescription', text(data.prescriptionNumber));
  line('Date', text(data.issuedOn));
  line('Patient', `${text(data.patientName)} (${text(data.patientNumber)}), age ${text(data.ageAtIssue)}`);
  line('Doctor', `${text(data.doctorName)}${data.licenceNumber ? `, licence ${text(data.licenceNumber)}` : ''}`);
  doc.moveDown(1);

  // The medicines.
  doc.font('Helvetica-Bold').fontSize(14).fillColor(primary).text('Rx', left);
  doc.moveDown(0.3);
  const columns = [
    { title: '#', width: 20 },
    { title: 'Medicine', width: 150 },
    { title: 'Dose', width: 90 },
    { title: 'Frequency', width: 95 },
    { title: 'Route', width: 55 },
    { title: 'Duration', width: 45 },
    { title: 'Qty', width: 40 },
  ];
  const rowOf = (cells: string[], bold: boolean, fill?: string) => {
    doc.font(bold ? 'Helvetica-Bold' : 'Helvetica').fontSize(9);
    const heights = cells.map((cell, i) => doc.heightOfString(cell, { width: columns[i]!.width - 4 }));
    const height = Math.max(...heights) + 6;
    if (doc.y + height > doc.page.height - doc.page.margins.bottom) doc.addPage();
    const top = doc.y;
    if (fill) doc.rect(left, top, width, height).fill(fill);
    let x = left;
    doc.fillColor('#000000');
    cells.forEach((cell, i) => {
      doc.text(cell, x + 2, top + 3, { width: columns[i]!.width - 4 });
      x += columns[i]!.width;
    });
    doc.x = left;
    doc.y = top + height;
  };
  rowOf(
    columns.map((c) => c.title),
    true,
    secondary,
  );
  for (const item of (data.items as PdfItem[]) ?? []) {
    const medicine = [item.medicineName, item.strength, item.genericName ? `(${item.genericName})` : null, item.doseForm].filter(Boolean).join(' ');
    const frequency = item.frequency === 'custom' ? text(item.frequencyCustom) : (FREQUENCY_TEXT[item.frequency] ?? item.frequency);
    rowOf(
      [
        String(item.position),
        medicine,
        item.dose,
        frequency,
        item.route,
        item.durationDays ? `${item.durationDays} days` : '',
        `${item.quantity}${item.refills ? ` + ${item.refills} refills` : ''}`,
      ],
      false,
    );
    if (item.instructions) {
      doc
        .font('Helvetica-Oblique')
        .fontSize(9)
        .text(`Instructions: ${item.instructions}`, left + 20, doc.y, { width: width - 20 });
      doc.x = left;
      doc.moveDown(0.3);
    }
    doc
      .strokeColor(secondary)
      .lineWidth(0.5)
      .moveTo(left, doc.y)
      .lineTo(left + width, doc.y)
      .stroke();
  }
  doc.moveDown(1);
  if (data.notes) {
    doc.font('Helvetica-Bold').fontSize(10).text('Notes', left).font('Helvetica').text(text(data.notes), { width });
    doc.moveDown(1);
  }

  // The signature.
  doc.moveDown(2);
  const signatureY = doc.y;
  doc
    .strokeColor('#000000')
    .lineWidth(1)
    .moveTo(left + width - 200, signatureY)
    .lineTo(left + width, signatureY)
    .stroke();
  doc
    .font('Helvetica')
    .fontSize(9)
    .text(`Signature: ${text(data.doctorName)}`, left + width - 200, signatureY + 4, { width: 200 });
  doc.end();
  return doc;
}
