/**
 * parse: expression-language source text -> Graph. In: lines `name = expr` (or `;`-separated),
 * `param a, b` declarations, `#` comments, at most one bare expression (the output `out`). Out: a
 * Graph whose inputs are the names never assigned, in order of first appearance (a `param` line
 * counts as an appearance), whose parameters are the declared names, and whose outputs are the
 * assigned names no later statement uses, in order of assignment. `pi` and `e` are constants until
 * a statement assigns or declares that name (the seed program assigns `e`).
 *
 * Grammar (lowest precedence first):
 *   statement := 'param' name (',' name)* | name '=' compare | compare
 *   compare := sum (('<' | '<=' | '>' | '>=' | '==' | '!=') sum)?     -- not chainable
 *   sum     := product (('+' | '-') product)*
 *   product := unary (('*' | '/') unary)*
 *   unary   := ('-' | '+') unary | power
 *   power   := primary (('^' | '**') unary)?                          -- right-assoc; -x^2 = -(x^2)
 *   primary := number | name | name '(' args ')' | '(' compare ')'
 * Function names are the op names of the table (sin, max, atan2, where, pow, ...). Newlines inside
 * parentheses continue the statement. Every error is a ParseError with 1-based line and column.
 */
import { ParseError } from './errors.js'
import { Graph, type Expr } from './graph.js'
import { OPS, OP_NAMES, isOpName, type OpName } from './ops.js'

type TokenType = 'num' | 'name' | 'op' | 'sep' | 'end'
interface Token {
  readonly type: TokenType
  readonly text: string
  readonly value: number
  /** Offset into the source. */
  readonly at: number
}

const COMPARE: Readonly<Record<string, OpName>> = { '<': 'lt', '<=': 'le', '>': 'gt', '>=': 'ge', '==': 'eq', '!=': 'ne' }
const PUNCT = ['**', '<=', '>=', '==', '!=', '+', '-', '*', '/', '^', '(', ')', ',', '=', '<', '>']
/** Sticky (anchored at lastIndex) so that a token of any length is read whole, without slicing. */
const NUMBER = /(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/y
const NAME = /[A-Za-z_][A-Za-z0-9_]*/y
/** Deeper nesting is a ParseError rather than a stack overflow (each level costs ~7 JS frames). */
const MAX_NESTING = 500
/** The function names of the language (registered custom ops included), for error messages. */
const functions = () => OP_NAMES.filter((n) => !('symbol' in OPS[n]) || n === 'pow').join(', ')
/** Names of the language's constants: never inputs, never assigned. */
const CONSTANTS: ReadonlyMap<string, number> = new Map([['pi', Math.PI], ['e', Math.E]])

/**
 * Parses a program into a Graph.
 *
 * @example
 * const g = parse('f = (1-x)^2 + 100*(y-x^2)^2')
 * g.inputs   // ['x', 'y']
 * g.outputs  // ['f']
 * parse('param a, b; loss = (a*sin(b*x) - y)^2').params  // ['a', 'b']
 */
export function parse(source: string): Graph {
  if (typeof source !== 'string') throw new TypeError(`parse expects a string, got ${typeof source}`)
  return new Parser(source).program()
}

class Parser {
  readonly #src: string
  readonly #tokens: Token[]
  #pos = 0
  #depth = 0
  readonly #graph = new Graph()
  /** Assigned names in order of assignment -> node, source offset, and whether a later line read it. */
  readonly #vars = new Map<string, { expr: Expr; at: number; used: boolean }>()
  /** Input names read so far, with the offset of the first read (for "used before assignment"). */
  readonly #readAt = new Map<string, number>()
  /** Constants (pi, e) read so far as constants, with the offset of the first read. */
  readonly #constantAt = new Map<string, number>()

  constructor(src: string) {
    this.#src = src
    this.#tokens = this.#lex()
  }

  program(): Graph {
    for (;;) {
      while (this.#peek().type === 'sep') this.#pos++
      if (this.#peek().type === 'end') break
      this.#statement()
      const t = this.#peek()
      if (t.type !== 'sep' && t.type !== 'end') this.#fail(t, `expected an operator, ';' or a new line, found ${show(t)}`)
    }
    const outs = [...this.#vars].filter(([, v]) => !v.used)
    if (outs.length === 0) this.#fail(this.#peek(), 'the program defines no output (write `name = expression` or a bare expression)')
    for (const [name, v] of outs) this.#graph.output(name, v.expr)
    return this.#graph
  }

  #statement(): void {
    const t = this.#peek()
    const next = this.#tokens[this.#pos + 1]
    if (t.type === 'name' && t.text === 'param' && next?.type === 'name') return this.#params()
    if (t.type === 'name' && t.text === 'param' && (next?.type === 'sep' || next?.type === 'end')) this.#fail(next, "'param' needs the names it declares: param a, b")
    let name = 'out'
    const nameTok = t
    if (t.type === 'name' && next?.type === 'op' && next.text === '=') {
      name = t.text
      this.#pos += 2
      if (name.startsWith('__')) this.#fail(t, `names starting with '__' are reserved ('${name}')`)
      this.#shadow(t)
    } else if (this.#vars.has('out')) {
      this.#fail(t, "a second bare expression: only one may stand alone (it becomes the output 'out'); name this one with `name = ...`")
    }
    const expr = this.#compare()
    const earlier = this.#vars.get(name)
    if (earlier) this.#fail(nameTok, `'${name}' is already assigned at ${this.#where(earlier.at)}; assign each name once`)
    const read = this.#readAt.get(name)
    if (read !== undefined && this.#graph.isParam(name)) this.#fail(nameTok, `'${name}' is a parameter (declared at ${this.#where(read)}); a parameter is an input and cannot be assigned`)
    if (read !== undefined) this.#fail(nameTok, `'${name}' is used as an input at ${this.#where(read)} before this assignment; assign it first or rename it`)
    this.#vars.set(name, { expr, at: nameTok.at, used: false })
    this.#graph.setLabel(expr, name)
  }

  /** A statement names a constant (`e = ...`, `param pi`): from here on the name is the program's. */
  #shadow(t: Token): void {
    const read = this.#constantAt.get(t.text)
    if (read !== undefined) this.#fail(t, `'${t.text}' is read as the constant ${CONSTANTS.get(t.text)} at ${this.#where(read)}; a program that defines '${t.text}' must do so before reading it`)
  }

  /** `param a, b`: declares parameters (one value for the whole batch), before any use. */
  #params(): void {
    this.#pos++
    for (;;) {
      const t = this.#peek()
      if (t.type !== 'name') this.#fail(t, `expected a parameter name, found ${show(t)}`)
      const name = t.text
      this.#shadow(t)
      if (name.startsWith('__')) this.#fail(t, `names starting with '__' are reserved ('${name}')`)
      if (isOpName(name)) this.#fail(t, `'${name}' is a function name; a parameter needs another name`)
      const assigned = this.#vars.get(name)
      if (assigned) this.#fail(t, `'${name}' is assigned at ${this.#where(assigned.at)}; a parameter is an input and cannot be assigned`)
      const read = this.#readAt.get(name)
      if (read !== undefined && !this.#graph.isParam(name)) this.#fail(t, `'${name}' is used as an input at ${this.#where(read)} before this declaration; declare parameters before their first use`)
      if (this.#graph.isParam(name)) this.#fail(t, `parameter '${name}' is already declared`)
      this.#graph.param(name)
      this.#readAt.set(name, t.at)
      this.#pos++
      const u = this.#peek()
      if (!(u.type === 'op' && u.text === ',')) return
      this.#pos++
    }
  }

  #compare(): Expr {
    const left = this.#sum()
    const t = this.#peek()
    const op = t.type === 'op' ? COMPARE[t.text] : undefined
    if (!op) return left
    this.#pos++
    const right = this.#sum()
    const u = this.#peek()
    if (u.type === 'op' && COMPARE[u.text]) this.#fail(u, 'comparisons cannot be chained; combine them with * (and) or where()')
    return this.#graph.apply(op, [left, right])
  }

  #sum(): Expr {
    let e = this.#product()
    for (let t = this.#peek(); t.type === 'op' && (t.text === '+' || t.text === '-'); t = this.#peek()) {
      this.#pos++
      e = this.#graph.apply(t.text === '+' ? 'add' : 'sub', [e, this.#product()])
    }
    return e
  }

  #product(): Expr {
    let e = this.#unary()
    for (let t = this.#peek(); t.type === 'op' && (t.text === '*' || t.text === '/'); t = this.#peek()) {
      this.#pos++
      e = this.#graph.apply(t.text === '*' ? 'mul' : 'div', [e, this.#unary()])
    }
    return e
  }

  #unary(): Expr {
    const t = this.#peek()
    if (t.type === 'op' && (t.text === '-' || t.text === '+')) {
      this.#pos++
      const e = this.#nested(t, () => this.#unary())
      return t.text === '-' ? this.#graph.apply('neg', [e]) : e
    }
    return this.#power()
  }

  #power(): Expr {
    const base = this.#primary()
    const t = this.#peek()
    if (t.type === 'op' && (t.text === '^' || t.text === '**')) {
      this.#pos++
      return this.#graph.apply('pow', [base, this.#nested(t, () => this.#unary())])
    }
    return base
  }

  #primary(): Expr {
    const t = this.#peek()
    if (t.type === 'num') {
      this.#pos++
      return this.#graph.constant(t.value)
    }
    if (t.type === 'name') {
      this.#pos++
      const open = this.#peek()
      if (open.type === 'op' && open.text === '(') return this.#call(t)
      return this.#variable(t)
    }
    if (t.type === 'op' && t.text === '(') {
      this.#pos++
      const e = this.#nested(t, () => this.#compare())
      this.#expect(')', t)
      return e
    }
    if (t.type === 'end' || t.type === 'sep') this.#fail(t, 'unexpected end of statement: an expression is missing')
    return this.#fail(t, `unexpected ${show(t)}: expected a number, a name or '('`)
  }

  #call(fn: Token): Expr {
    if (!isOpName(fn.text)) this.#fail(fn, `unknown function '${fn.text}' (known: ${functions()})`)
    const open = this.#peek()
    this.#pos++
    const args: Expr[] = []
    if (!(this.#peek().type === 'op' && this.#peek().text === ')')) {
      for (;;) {
        args.push(this.#nested(open, () => this.#compare()))
        const t = this.#peek()
        if (t.type === 'op' && t.text === ',') {
          this.#pos++
          continue
        }
        break
      }
    }
    this.#expect(')', open)
    const arity = OPS[fn.text].arity
    if (args.length !== arity) this.#fail(fn, `${fn.text} takes ${arity} argument${arity > 1 ? 's' : ''}, got ${args.length}`)
    return this.#graph.apply(fn.text, args)
  }

  #variable(t: Token): Expr {
    const known = this.#vars.get(t.text)
    if (known) {
      known.used = true
      return known.expr
    }
    if (t.text.startsWith('__')) this.#fail(t, `names starting with '__' are reserved ('${t.text}')`)
    const constant = CONSTANTS.get(t.text)
    if (constant !== undefined && !this.#graph.isParam(t.text)) {
      if (!this.#constantAt.has(t.text)) this.#constantAt.set(t.text, t.at)
      return this.#graph.constant(constant)
    }
    if (!this.#readAt.has(t.text)) this.#readAt.set(t.text, t.at)
    return this.#graph.input(t.text)
  }

  /** Recursion guard: deeply nested source is an error, not a stack overflow. */
  #nested(t: Token, f: () => Expr): Expr {
    if (++this.#depth > MAX_NESTING) this.#fail(t, `expression nested too deeply (more than ${MAX_NESTING} levels)`)
    try {
      return f()
    } finally {
      this.#depth--
    }
  }

  #expect(text: string, opener: Token): void {
    const t = this.#peek()
    if (t.type === 'op' && t.text === text) {
      this.#pos++
      return
    }
    this.#fail(t, `expected '${text}' to close the '${opener.text}' at ${this.#where(opener.at)}, found ${show(t)}`)
  }

  #peek(): Token {
    return this.#tokens[this.#pos]!
  }

  #lex(): Token[] {
    const src = this.#src
    const tokens: Token[] = []
    const opens: number[] = []
    let i = 0
    while (i < src.length) {
      const ch = src[i]!
      if (ch === '#') {
        while (i < src.length && src[i] !== '\n') i++
      } else if (ch === '\n' || ch === ';') {
        if (ch === ';' || opens.length === 0) tokens.push({ type: 'sep', text: ch, value: NaN, at: i })
        i++
      } else if (ch === ' ' || ch === '\t' || ch === '\r') {
        i++
      } else if (/[0-9.]/.test(ch)) {
        NUMBER.lastIndex = i
        const m = NUMBER.exec(src)
        if (!m) this.#failAt(i, `malformed number starting with '${ch}'`)
        const text = m![0]
        const after = src[i + text.length]
        if (after !== undefined && /[A-Za-z_0-9.]/.test(after)) this.#failAt(i + text.length, `malformed number '${text}${after}'`)
        const value = Number(text)
        if (!Number.isFinite(value)) this.#failAt(i, `number ${text} is too large for float64`)
        tokens.push({ type: 'num', text, value, at: i })
        i += text.length
      } else if (/[A-Za-z_]/.test(ch)) {
        NAME.lastIndex = i
        const text = NAME.exec(src)![0]
        tokens.push({ type: 'name', text, value: NaN, at: i })
        i += text.length
      } else {
        const p = PUNCT.find((q) => src.startsWith(q, i))
        if (!p) this.#failAt(i, `unexpected character ${JSON.stringify(ch)}`)
        if (p === '(') opens.push(i)
        if (p === ')') opens.pop()
        tokens.push({ type: 'op', text: p!, value: NaN, at: i })
        i += p!.length
      }
    }
    tokens.push({ type: 'end', text: '', value: NaN, at: src.length })
    return tokens
  }

  /** "line:column" of a source offset. */
  #where(at: number): string {
    const { line, column } = this.#position(at)
    return `${line}:${column}`
  }

  #position(at: number): { line: number; column: number; text: string } {
    const before = this.#src.slice(0, at)
    const line = before.split('\n').length
    const start = before.lastIndexOf('\n') + 1
    const endNl = this.#src.indexOf('\n', start)
    const text = this.#src.slice(start, endNl < 0 ? this.#src.length : endNl).replace(/\r$/, '')
    return { line, column: at - start + 1, text }
  }

  #fail(t: Token, reason: string): never {
    this.#failAt(t.at, reason)
  }

  #failAt(at: number, reason: string): never {
    const { line, column, text } = this.#position(at)
    throw new ParseError(reason, line, column, text)
  }
}

function show(t: Token): string {
  if (t.type === 'end') return 'the end of the program'
  if (t.type === 'sep') return t.text === ';' ? "';'" : 'a new line'
  return `'${t.text}'`
}
