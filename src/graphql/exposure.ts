// How the GraphQL schema names and exposes the tenant tables, beyond what the tables' comments
// declare (migrations/README.md, "GraphQL exposure"). Every tenant table's keys and references lead
// with clinic_id, which the request's context supplies and clients never name. Two plugins:
// - names come from the other columns: `department(rowId:)`, `patientByPatientNumber`, a visit's
//   `doctor` and `patient`, a patient's `appointments`, not `clinicDoctor` or `…ByClinicIdAndCode`;
//   the table's `@unique id` (the row's id, unique among the rows RLS lets a request see) is its
//   short key, as a primary key is elsewhere: `department`, `updateDepartment`, `deleteDepartment`;
// - filtering and ordering are opt-in per column (`@behavior +filterBy +orderBy` in its comment),
//   so a new column is never a filter by accident, and the schema does not change with an index;
//   relations are never filters.
import type { PgResourceUnique } from '@dataplan/pg';

/** The column every tenant table leads its keys with; the context gives it. */
const TENANT_COLUMN = 'clinic_id';
/** A tenant row's own id: its `@unique` key, and `rowId` in GraphQL. */
const ROW_ID_COLUMN = 'id';
/** The patient a clinical record belongs to: part of its references to its parent record. */
const PATIENT_COLUMN = 'patient_id';

/** A key's columns without clinic_id when it has others: the clinic's own keys (clinics, settings) stay. */
function withoutTenantColumn<T>(keys: readonly T[], nameOf: (key: T) => string): readonly T[] {
  const rest = keys.filter((key) => nameOf(key) !== TENANT_COLUMN);
  return rest.length > 0 ? rest : keys;
}

/**
 * A clinical record's reference to its parent carries the patient too, (clinic_id, consultation_id,
 * patient_id), so that a child can never name another patient than its parent's: the relation is
 * named after the parent (`consultation`, `testRequest`), not `consultationPatient`. A reference to
 * the patient alone keeps its name (`patient`).
 */
function relationKeys<T>(keys: readonly T[], nameOf: (key: T) => string): readonly T[] {
  const rest = withoutTenantColumn(keys, nameOf);
  const parent = rest.filter((key) => nameOf(key) !== PATIENT_COLUMN);
  return parent.length > 0 ? parent : rest;
}

/** `@unique id` on a tenant table: named as the table's short key, as a primary key would be. */
function asShortKey<D extends { unique: PgResourceUnique }>(details: D): D {
  const { unique } = details;
  const isRowKey = unique.attributes.length === 1 && unique.attributes[0] === ROW_ID_COLUMN;
  return isRowKey ? { ...details, unique: { ...unique, isPrimary: true } } : details;
}

export const TenantInflectionPlugin: GraphileConfig.Plugin = {
  name: 'TenantInflectionPlugin',
  description: 'Names keys and relations of tenant tables after their columns other than clinic_id',
  version: '0.0.0',
  after: ['PgSimplifyInflectionPlugin'],
  inflection: {
    replace: {
      _joinAttributeNames: (previous, _options, codec, names) => previous!(codec, [...withoutTenantColumn(names, (name) => name)]),
      _getBaseNameFromKeys: (previous, _options, detailedKeys) => previous!([...relationKeys(detailedKeys, (key) => key.attributeName)]),
      rowByUnique: (previous, _options, details) => previous!(asShortKey(details)),
      updateByKeysField: (previous, _options, details) => previous!(asShortKey(details)),
      deleteByKeysField: (previous, _options, details) => previous!(asShortKey(details)),
      updateByKeysInputType: (previous, _options, details) => previous!(asShortKey(details)),
      deleteByKeysInputType: (previous, _options, details) => previous!(asShortKey(details)),
    },
  },
};

export const OptInFilterOrderPlugin: GraphileConfig.Plugin = {
  name: 'OptInFilterOrderPlugin',
  description: 'No column is a filter or an ordering unless its comment says `@behavior +filterBy +orderBy`',
  version: '0.0.0',
  after: ['PgIndexBehaviorsPlugin'],
  schema: {
    entityBehavior: {
      pgCodecAttribute: {
        inferred: {
          after: ['postInferred'],
          callback: (behavior) => [behavior, '-filterBy', '-orderBy'],
        },
      },
      // A filter through a relation (`patientHistories: { some: … }`, `filesExist`) would tell
      // whether a patient has a chart entry of a kind without reading, and so without logging, it.
      pgCodecRelation: {
        inferred: {
          after: ['postInferred'],
          callback: (behavior) => [behavior, '-filterBy'],
        },
      },
    },
  },
};

export const ExposurePreset: GraphileConfig.Preset = {
  plugins: [TenantInflectionPlugin, OptInFilterOrderPlugin],
};
