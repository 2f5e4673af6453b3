/**
 * A minimal ONNX protobuf writer: just enough of `onnx.proto` (ModelProto,
 * GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto) to build
 * one-operator models in memory for the peer benchmark, with no dependency.
 * Field numbers are those of onnx/onnx.proto (IR version 8).
 */

/** ONNX `TensorProto.DataType` codes used here. */
export const OnnxType = { FLOAT: 1, UINT8: 2, INT32: 6, INT64: 7, FLOAT16: 10 } as const;

class Writer {
  /** Finished pieces (large payloads are kept as views, not copied byte by byte). */
  private parts: Uint8Array[] = [];
  private small: number[] = [];
  private flushSmall(): void {
    if (this.small.length) this.parts.push(Uint8Array.from(this.small));
    this.small = [];
  }
  varint(v: number | bigint): this {
    let b = BigInt.asUintN(64, BigInt(v));
    do {
      let byte = Number(b & 0x7fn);
      b >>= 7n;
      if (b) byte |= 0x80;
      this.small.push(byte);
    } while (b);
    return this;
  }
  tag(field: number, wire: number): this {
    return this.varint((field << 3) | wire);
  }
  int(field: number, v: number | bigint): this {
    return this.tag(field, 0).varint(v);
  }
  float(field: number, v: number): this {
    this.tag(field, 5);
    this.small.push(...new Uint8Array(new Float32Array([v]).buffer));
    return this;
  }
  bytes(field: number, data: Uint8Array): this {
    this.tag(field, 2).varint(data.length);
    this.flushSmall();
    this.parts.push(data);
    return this;
  }
  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }
  finish(): Uint8Array {
    this.flushSmall();
    const out = new Uint8Array(this.parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

export type AttrValue = number | string | number[] | { float: number };

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  domain?: string;
  attrs?: Record<string, AttrValue>;
}

export interface OnnxInitializer {
  name: string;
  dims: number[];
  type: number;
  raw: Uint8Array;
}

/** A graph input or output: name, element type, dims (numbers, or strings for symbolic). */
export interface OnnxValue {
  name: string;
  type: number;
  dims: (number | string)[];
}

function attribute(name: string, v: AttrValue): Uint8Array {
  const w = new Writer().string(1, name);
  if (typeof v === "number") w.int(3, v).int(20, 2);
  else if (typeof v === "string") w.string(4, v).int(20, 3);
  else if (Array.isArray(v)) {
    for (const x of v) w.int(8, x);
    w.int(20, 7);
  } else w.float(2, v.float).int(20, 1);
  return w.finish();
}

function valueInfo(v: OnnxValue): Uint8Array {
  const shape = new Writer();
  for (const d of v.dims) {
    const dim = typeof d === "number" ? new Writer().int(1, d) : new Writer().string(2, d);
    shape.bytes(1, dim.finish());
  }
  const tensorType = new Writer().int(1, v.type).bytes(2, shape.finish());
  const type = new Writer().bytes(1, tensorType.finish());
  return new Writer().string(1, v.name).bytes(2, type.finish()).finish();
}

function tensor(t: OnnxInitializer): Uint8Array {
  const w = new Writer();
  for (const d of t.dims) w.int(1, d);
  return w.int(2, t.type).string(8, t.name).bytes(9, t.raw).finish();
}

/** A serialized ModelProto of one graph. `opsets` maps domain ("" = ai.onnx) to version. */
export function onnxModel(g: {
  nodes: OnnxNode[];
  inputs: OnnxValue[];
  outputs: OnnxValue[];
  initializers?: OnnxInitializer[];
  opsets?: Record<string, number>;
}): Uint8Array {
  const graph = new Writer();
  g.nodes.forEach((n, i) => {
    const node = new Writer();
    for (const x of n.inputs) node.string(1, x);
    for (const x of n.outputs) node.string(2, x);
    node.string(3, `${n.op}_${i}`).string(4, n.op);
    for (const [k, v] of Object.entries(n.attrs ?? {})) node.bytes(5, attribute(k, v));
    if (n.domain) node.string(7, n.domain);
    graph.bytes(1, node.finish());
  });
  graph.string(2, "bench");
  for (const t of g.initializers ?? []) graph.bytes(5, tensor(t));
  for (const v of g.inputs) graph.bytes(11, valueInfo(v));
  for (const v of g.outputs) graph.bytes(12, valueInfo(v));
  const model = new Writer().int(1, 8).string(2, "ideogram4-webgpu bench");
  for (const [domain, version] of Object.entries(g.opsets ?? { "": 17 })) {
    const w = new Writer();
    if (domain) w.string(1, domain);
    model.bytes(8, w.int(2, version).finish());
  }
  return model.bytes(7, graph.finish()).finish();
}
