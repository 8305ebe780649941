/**
 * The deepest expression in a WGSL module, measured the way a compiler's parser nests: a leaf is 1,
 * an operator or a call 1 + its deepest operand (`a + b + c` is two deep: binary chains nest, left to
 * right). Tint rejects expressions deeper than 512; wavegrad holds its kernels to 64.
 *
 * A small precedence-climbing parser over every statement of the module (the right side of
 * let/var/assignments, return values, if/for headers); declarations are skipped. Linear in the
 * size of the text, so it measures multi-megabyte kernels.
 */

const TOKEN = /\s+|\/\/[^\n]*|0[xX][0-9a-fA-F]+[iu]?|\d+\.?\d*(?:[eE][+-]?\d+)?[fhiu]?|\.\d+(?:[eE][+-]?\d+)?[fh]?|[A-Za-z_][A-Za-z0-9_]*|<<=|>>=|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&|^]=|->|[-+*/%&|^!~<>=(){}[\];,.:@]/y

function tokens(source: string): string[] {
  const out: string[] = []
  TOKEN.lastIndex = 0
  while (TOKEN.lastIndex < source.length) {
    const at = TOKEN.lastIndex
    const m = TOKEN.exec(source)
    if (!m) throw new Error(`wgsl-depth: cannot tokenize at ${source.slice(at, at + 20)}`)
    if (!/^\s|^\/\//.test(m[0])) out.push(m[0])
  }
  return out
}

/** Binding power of a binary operator (higher binds tighter). */
const BINARY: Readonly<Record<string, number>> = { '||': 1, '&&': 2, '|': 3, '^': 4, '&': 5, '==': 6, '!=': 6, '<': 7, '>': 7, '<=': 7, '>=': 7, '<<': 8, '>>': 8, '+': 9, '-': 9, '*': 10, '/': 10, '%': 10 }
/** Identifiers followed by a template list `<...>` (so that `<` is no comparison there). */
const TEMPLATED = new Set(['bitcast', 'vec2', 'vec3', 'vec4', 'array', 'mat2x2', 'mat3x3', 'mat4x4', 'ptr', 'atomic'])

/**
 * The largest expression depth in a WGSL module.
 *
 * @example
 * maxExpressionDepth('fn f() { let a = (b + c) * d; }')   // 3
 */
export function maxExpressionDepth(source: string): number {
  const t = tokens(source)
  let i = 0
  let deepest = 0
  const peek = () => t[i]
  const skipTemplate = () => {
    // After a templated identifier: `<` ... matching `>`.
    let depth = 0
    do {
      if (t[i] === '<') depth++
      else if (t[i] === '>') depth--
      else if (t[i] === '>>') depth -= 2
      i++
    } while (depth > 0 && i < t.length)
  }
  const primary = (): number => {
    const tok = t[i++]
    if (tok === undefined) throw new Error('wgsl-depth: unexpected end')
    if (tok === '(') {
      const d = expression(0)
      expect(')')
      return postfix(d)
    }
    if (tok === '-' || tok === '!' || tok === '~' || tok === '&' || tok === '*') return 1 + primary()
    if (/^[A-Za-z_]/.test(tok)) {
      if (TEMPLATED.has(tok) && peek() === '<') skipTemplate()
      if (peek() === '(') {
        i++
        let d = 0
        while (peek() !== ')') {
          d = Math.max(d, expression(0))
          if (peek() === ',') i++
        }
        i++
        return postfix(1 + d)
      }
      return postfix(1)
    }
    return postfix(1)
  }
  const postfix = (d: number): number => {
    for (;;) {
      if (peek() === '.') {
        i += 2
        d += 1
      } else if (peek() === '[') {
        i++
        d = 1 + Math.max(d, expression(0))
        expect(']')
      } else return d
    }
  }
  const expression = (minPower: number): number => {
    let left = primary()
    for (;;) {
      const op = peek()
      const power = op === undefined ? undefined : BINARY[op]
      if (power === undefined || power <= minPower) break
      i++
      left = 1 + Math.max(left, expression(power))
    }
    deepest = Math.max(deepest, left)
    return left
  }
  const expect = (tok: string) => {
    if (t[i] !== tok) throw new Error(`wgsl-depth: expected '${tok}' at token ${i}, got '${t[i]}'`)
    i++
  }
  const skipTo = (stop: string) => {
    while (i < t.length && t[i] !== stop) i++
  }
  while (i < t.length) {
    const tok = t[i]!
    if (tok === 'fn' || tok === 'struct' || tok === '@') {
      // Declarations and attributes: skip to the body (or the next declaration).
      if (tok === '@') {
        i++
        if (t[i + 1] === '(') {
          i += 2
          let d = 1
          while (d > 0 && i < t.length) d += t[i] === '(' ? 1 : t[i++] === ')' ? -1 : 0
        } else i++
        continue
      }
      if (tok === 'struct') {
        skipTo('}')
        i++
        continue
      }
      skipTo('{')
      i++
      continue
    }
    if (tok === 'var' && t[i + 1] === '<') {
      // A module-scope binding: var<storage, ...> name: type;
      skipTo(';')
      i++
      continue
    }
    if (tok === 'let' || tok === 'var' || tok === 'const') {
      // let name (: type)? = expr;
      while (i < t.length && t[i] !== '=' && t[i] !== ';') i++
      if (t[i] === '=') {
        i++
        expression(0)
      }
      continue
    }
    if (tok === 'return') {
      i++
      if (peek() !== ';') expression(0)
      continue
    }
    if (tok === 'if' || tok === 'while' || tok === 'switch') {
      i++
      expression(0)
      continue
    }
    if (tok === 'for') {
      i += 2
      continue
    }
    if (tok === 'else' || tok === 'loop' || tok === '{' || tok === '}' || tok === ';' || tok === ',' || tok === ')' || tok === 'break' || tok === 'continue') {
      i++
      continue
    }
    // An assignment or a call statement: lhs (op)= rhs, or lhs++.
    const start = i
    expression(0)
    if (t[i] === '=' || /^[-+*/%&|^]=$|^<<=$|^>>=$/.test(t[i] ?? '')) {
      i++
      expression(0)
    } else if (t[i] === '+' && t[i + 1] === '+') i += 2
    if (i === start) i++
  }
  return deepest
}
