// Breakpoint conditions: a small expression language over registers and the access that hit,
// as gdb's `condition N EXPR` with our words for a trap:
//
//   value & 0x80        $eax == 3 && port == 0x3f8        !(value & 1)       $al != 'A'
//
// Names: `value` (the data of the access), `port`, `addr`, `size`, `vector`, `write` (1 for
// an OUT or write), and `$reg` for any register (32-, 16- and 8-bit names, segments, eip,
// eflags, cr0-4). Numbers are decimal, 0x hex, 0b binary or 'c' characters. Operators as in C.
// Parsed once into a tree and evaluated without eval(): a condition is user input.

import { HvmonError } from '../../common/errors.js';

export class ConditionError extends HvmonError {}

type Node =
  | { k: 'num'; v: number }
  | { k: 'var'; name: string }
  | { k: 'un'; op: string; a: Node }
  | { k: 'bin'; op: string; a: Node; b: Node };

export type ConditionVars = (name: string) => number | undefined;

const BINARY_LEVELS: string[][] = [
  ['||'], ['&&'], ['|'], ['^'], ['&'], ['==', '!='], ['<', '<=', '>', '>='], ['<<', '>>'], ['+', '-'], ['*', '/', '%'],
];
const TOKEN = /\s*(0x[0-9a-f]+|0b[01]+|\d+|'(?:\\.|[^'\\])'|\$?[a-z_][a-z0-9_]*|\|\||&&|==|!=|<=|>=|<<|>>|[-+*/%&|^!~<>()])/iy;

function tokenize(src: string): string[] {
  const out: string[] = [];
  TOKEN.lastIndex = 0;
  let pos = 0;
  while (pos < src.length) {
    if (/^\s*$/.test(src.slice(pos))) break;
    TOKEN.lastIndex = pos;
    const m = TOKEN.exec(src);
    if (!m) throw new ConditionError(`unexpected character '${src.slice(pos).trimStart()[0]}' in condition "${src}"`);
    out.push(m[1]);
    pos = TOKEN.lastIndex;
  }
  return out;
}

export const CONDITION_NAMES = ['value', 'port', 'addr', 'size', 'vector', 'write'];

export class Condition {
  private readonly _root: Node;

  constructor(readonly source: string) {
    const toks = tokenize(source);
    if (toks.length === 0) throw new ConditionError('empty condition');
    let i = 0;
    const peek = (): string | undefined => toks[i];
    const parseBinary = (level: number): Node => {
      if (level === BINARY_LEVELS.length) return parseUnary();
      let a = parseBinary(level + 1);
      while (BINARY_LEVELS[level].includes(peek() ?? '')) {
        const op = toks[i++];
        a = { k: 'bin', op, a, b: parseBinary(level + 1) };
      }
      return a;
    };
    const parseUnary = (): Node => {
      const t = peek();
      if (t === '!' || t === '~' || t === '-') {
        i++;
        return { k: 'un', op: t, a: parseUnary() };
      }
      return parsePrimary();
    };
    const parsePrimary = (): Node => {
      const t = toks[i++];
      if (t === undefined) throw new ConditionError(`condition "${source}" ends too early`);
      if (t === '(') {
        const e = parseBinary(0);
        if (toks[i++] !== ')') throw new ConditionError(`missing ')' in condition "${source}"`);
        return e;
      }
      if (/^0x/i.test(t)) return { k: 'num', v: parseInt(t.slice(2), 16) };
      if (/^0b/i.test(t)) return { k: 'num', v: parseInt(t.slice(2), 2) };
      if (/^\d/.test(t)) return { k: 'num', v: parseInt(t, 10) };
      if (t.startsWith("'")) {
        const body = t.slice(1, -1);
        const ch = body.startsWith('\\') ? ({ n: '\n', r: '\r', t: '\t', 0: '\0' } as Record<string, string>)[body[1]] ?? body[1] : body;
        return { k: 'num', v: ch.charCodeAt(0) };
      }
      if (/^\$?[a-z_]/i.test(t)) {
        const name = t.toLowerCase();
        if (!name.startsWith('$') && !CONDITION_NAMES.includes(name)) {
          throw new ConditionError(`unknown name '${t}' in condition (use ${CONDITION_NAMES.join(', ')} or $register)`);
        }
        return { k: 'var', name };
      }
      throw new ConditionError(`unexpected '${t}' in condition "${source}"`);
    };
    this._root = parseBinary(0);
    if (i !== toks.length) throw new ConditionError(`unexpected '${toks[i]}' in condition "${source}"`);
  }

  /** Register names ($eax…) the condition reads, without the $. */
  registers(): string[] {
    const out = new Set<string>();
    const walk = (n: Node): void => {
      if (n.k === 'var' && n.name.startsWith('$')) out.add(n.name.slice(1));
      else if (n.k === 'un') walk(n.a);
      else if (n.k === 'bin') { walk(n.a); walk(n.b); }
    };
    walk(this._root);
    return [...out];
  }

  /** Evaluates to a number; a name the caller does not know is an error. */
  evaluate(vars: ConditionVars): number {
    const ev = (n: Node): number => {
      switch (n.k) {
        case 'num': return n.v;
        case 'var': {
          const v = vars(n.name);
          if (v === undefined) throw new ConditionError(`'${n.name}' has no value here`);
          return v;
        }
        case 'un': {
          const a = ev(n.a);
          return n.op === '!' ? (a ? 0 : 1) : n.op === '~' ? ~a >>> 0 : -a;
        }
        case 'bin': {
          if (n.op === '&&') return ev(n.a) && ev(n.b) ? 1 : 0;
          if (n.op === '||') return ev(n.a) || ev(n.b) ? 1 : 0;
          const a = ev(n.a);
          const b = ev(n.b);
          switch (n.op) {
            case '|': return (a | b) >>> 0;
            case '^': return (a ^ b) >>> 0;
            case '&': return (a & b) >>> 0;
            case '==': return a === b ? 1 : 0;
            case '!=': return a !== b ? 1 : 0;
            case '<': return a < b ? 1 : 0;
            case '<=': return a <= b ? 1 : 0;
            case '>': return a > b ? 1 : 0;
            case '>=': return a >= b ? 1 : 0;
            case '<<': return (a << b) >>> 0;
            case '>>': return a >>> b;
            case '+': return a + b;
            case '-': return a - b;
            case '*': return a * b;
            case '/': if (b === 0) throw new ConditionError('division by zero in condition'); return Math.trunc(a / b);
            case '%': if (b === 0) throw new ConditionError('division by zero in condition'); return a % b;
          }
        }
      }
      throw new ConditionError('bad condition tree');
    };
    return ev(this._root);
  }

  test(vars: ConditionVars): boolean {
    return this.evaluate(vars) !== 0;
  }
}
