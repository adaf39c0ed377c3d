import avro, { type Schema, type Type } from 'avsc';

/** The part of avsc's (undocumented) read cursor that array reading uses. */
interface Tap {
  buf: Buffer;
  pos: number;
  readLong(): number;
  skipLong(): void;
}

/** What avsc calls on an item type (or a resolver, in its place) to read or skip one item. */
interface ItemCodec {
  _read(tap: Tap): unknown;
  _skip(tap: Tap): void;
}

/** Past the end: avsc then refuses the record as a truncated buffer. */
const invalidate = (tap: Tap) => void (tap.pos = tap.buf.length + 1);

/**
 * An array type that checks each block's item count against the bytes left. avsc trusts the
 * count and reads that many items even past the end of the record, so a few bytes claiming
 * billions of actors would hold a projector for minutes and take all its memory, record after
 * record. Each item of our arrays (strings) takes at least one byte, so a count beyond the bytes
 * left can only be a truncated or forged record. The loops are avsc's own otherwise; a resolver
 * reads with the reader type's `_read`, with its item resolver as `itemsType`.
 */
class BoundedArrayType extends avro.types.ArrayType {
  _read(this: { itemsType: ItemCodec }, tap: Tap): unknown[] {
    const items = this.itemsType;
    const values: unknown[] = [];
    let n: number;
    while ((n = tap.readLong())) {
      if (n < 0) {
        n = -n;
        tap.skipLong();
      }
      if (n > tap.buf.length - tap.pos) {
        invalidate(tap);
        return values;
      }
      while (n--) values.push(items._read(tap));
    }
    return values;
  }

  _skip(this: { itemsType: ItemCodec }, tap: Tap): void {
    const items = this.itemsType;
    let n: number;
    while ((n = tap.readLong())) {
      if (n < 0) {
        tap.pos += tap.readLong();
      } else if (n > tap.buf.length - tap.pos) {
        return invalidate(tap);
      } else {
        while (n--) items._skip(tap);
      }
    }
  }
}

const boundedArrays = (schema: Schema, opts: avro.ForSchemaOptions): Type | undefined => {
  const { type, items } = schema as { type?: unknown; items?: unknown };
  // Null items take no bytes at all: their counts cannot be bounded this way (none of ours).
  return type === 'array' && items !== 'null' ? new BoundedArrayType(schema, opts) : undefined;
};

/** An avsc type for reading records that may be hostile: its arrays never claim more than the bytes hold. */
export const typeForReading = (schema: Schema): Type => avro.Type.forSchema(schema, { typeHook: boundedArrays });
