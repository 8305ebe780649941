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
 *
 * Untrusted text: options bound the source's length, the graph's node count and the nesting depth.
 * The lexer, statements, sums, products, signs and `^` chains are loops; only parentheses and calls
 * recurse, bounded by maxDepth ≤ MAX_DEPTH_CAP, so no input overflows the JS stack. UNTRUSTED_TEXT
 * holds the limits the demo and the CLI use.
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
/**
 * Limits on what parse() accepts: give them where the text comes from someone else (a web page, a
 * file), so that a hostile or mistaken program is a ParseError at once rather than a hung tab, an
 * exhausted heap or a stack overflow.
 */
export interface ParseOptions {
  /** Most characters (UTF-16 code units, `source.length`) of source; default Infinity. */
  readonly maxLength?: number
  /** Most nodes the graph may hold (`graph.nodeCount`: inputs and constants count); default Infinity. */
  readonly maxNodes?: number
  /**
   * Deepest nesting of parentheses, calls, signs and powers (`((x))`, `sin(sin(x))`, `--x` and
   * `x^y^z` are each 2 deep); default 500, at most MAX_DEPTH_CAP.
   */
  readonly maxDepth?: number
}

/**
 * The largest maxDepth parse() accepts. Signs and `^` chains are read in loops (no stack), but each
 * parenthesis or call is three JS frames; a program's first parse runs unoptimized, with the
 * largest frames, and on Node 20's default stack overflowed at 1,599 nested calls (Chromium 156:
 * ~2,000; optimized code: ~2,600). The cap leaves a third of the stack or more to the caller.
 */
export const MAX_DEPTH_CAP = 1000

/** parse()'s defaults: nesting bounded (500 levels, far more than any hand-written program), length and nodes not. */
export const PARSE_DEFAULTS: Required<ParseOptions> = Object.freeze({ maxLength: Infinity, maxNodes: Infinity, maxDepth: 500 })

/**
 * Limits for program text from people: what the demo page and the CLI pass to parse(). 1,000,000
 * characters hold any program typed or generated for a page and parse in well under a second;
 * 100,000 nodes is the graph size the GPU interpreter tier is documented to run
 * (docs/ROBUSTNESS.md), where a page already waits seconds for a first result on a software
 * adapter; 500 levels of nesting is parse()'s own default.
 *
 * @example
 * const graph = parse(textFromAUser, UNTRUSTED_TEXT)
 * parse(text, { ...UNTRUSTED_TEXT, maxNodes: 1_000_000 })  // a larger budget for a trusted batch job
 */
export const UNTRUSTED_TEXT: Required<ParseOptions> = Object.freeze({ maxLength: 1_000_000, maxNodes: 100_000, maxDepth: 500 })

/** Names of the options each limit error tells the reader about. */
const OPTION_NAMES: readonly (keyof ParseOptions)[] = ['maxLength', 'maxNodes', 'maxDepth']
/** The function names of the language (registered custom ops included), for error messages. */
const functions = () => OP_NAMES.filter((n) => !('symbol' in OPS[n]) || n === 'pow').join(', ')
/** Names of the language's constants: never inputs, never assigned. */
const CONSTANTS: ReadonlyMap<string, number> = new Map([['pi', Math.PI], ['e', Math.E]])

/**
 * Parses a program into a Graph. Options bound the work (ParseOptions); a limit crossed is a
 * ParseError at the line:column where it was crossed, naming the option; a bad option a TypeError.
 *
 * @example
 * const g = parse('f = (1-x)^2 + 100*(y-x^2)^2')
 * g.inputs   // ['x', 'y']
 * g.outputs  // ['f']
 * parse('param a, b; loss = (a*sin(b*x) - y)^2').params  // ['a', 'b']
 * parse(textFromAUser, UNTRUSTED_TEXT)  // refuses oversize, huge or deeply nested programs
 */
export function parse(source: string, options: ParseOptions = {}): Graph {
  if (typeof source !== 'string') throw new TypeError(`parse expects a string, got ${typeof source}`)
  return new Parser(source, checkedOptions(options)).program()
}

/** The options with their defaults; a TypeError naming the option for anything else. */
function checkedOptions(options: ParseOptions): Required<ParseOptions> {
  if (typeof options !== 'object' || options === null) throw new TypeError(`parse options must be an object, got ${options === null ? 'null' : typeof options}`)
  for (const key of Object.keys(options)) {
    if (!(OPTION_NAMES as readonly string[]).includes(key)) throw new TypeError(`unknown parse option '${key}' (options: ${OPTION_NAMES.join(', ')})`)
  }
  const limit = (name: keyof ParseOptions, max: number): number => {
    const v: unknown = options[name]
    if (v === undefined) return PARSE_DEFAULTS[name]
    const ok = typeof v === 'number' && v >= 1 && (Number.isInteger(v) || v === Infinity) && v <= max
    if (!ok) throw new TypeError(`parse option ${name} must be a whole number from 1 to ${max === Infinity ? 'Infinity' : `${max} (MAX_DEPTH_CAP: deeper nesting could overflow the JS stack)`}, got ${typeof v === 'number' ? v : typeof v === 'string' ? `'${v}'` : typeof v}`)
    return v as number
  }
  return { maxLength: limit('maxLength', Infinity), maxNodes: limit('maxNodes', Infinity), maxDepth: limit('maxDepth', MAX_DEPTH_CAP) }
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

  readonly #limits: Required<ParseOptions>

  constructor(src: string, limits: Required<ParseOptions>) {
    this.#src = src
    this.#limits = limits
    // Checked before lexing: an oversize text costs nothing but this comparison.
    if (src.length > limits.maxLength) this.#failAt(limits.maxLength, `the program is longer than ${limits.maxLength} characters (${src.length}; the maxLength option sets this limit)`)
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
      this.#made(t, this.#graph.param(name))
      this.#readAt.set(name, t.at)
      this.#pos++
      const u = this.#peek()
      if (!(u.type === 'op' && u.text === ',')) return
      this.#pos++
    }
  }

  /**
   * compare := sum (op sum)?, sum := product (('+' | '-') product)*, product := unary (('*' | '/')
   * unary)*: all three in one frame, since every level of nesting costs the stack each frame
   * between a '(' and the next (MAX_DEPTH_CAP). Nodes are made in the order a recursive descent
   * makes them: `a - b*c - d` makes a, b, c, mul, sub, d, sub.
   */
  #compare(): Expr {
    let left: Expr | undefined
    let cmp: Token | undefined
    for (;;) {
      let sum: Expr | undefined
      let sumOp: Token | undefined
      let product = this.#unary()
      const add = () => (sum === undefined ? product : this.#made(sumOp!, this.#graph.apply(sumOp!.text === '+' ? 'add' : 'sub', [sum, product])))
      for (let t = this.#peek(); t.type === 'op'; t = this.#peek()) {
        if (t.text === '*' || t.text === '/') {
          this.#pos++
          product = this.#made(t, this.#graph.apply(t.text === '*' ? 'mul' : 'div', [product, this.#unary()]))
        } else if (t.text === '+' || t.text === '-') {
          this.#pos++
          sum = add()
          sumOp = t
          product = this.#unary()
        } else {
          break
        }
      }
      const side = add()
      const t = this.#peek()
      const op = t.type === 'op' ? COMPARE[t.text] : undefined
      if (left === undefined) {
        if (!op) return side
        left = side
        cmp = t
        this.#pos++
        continue
      }
      if (op) this.#fail(t, 'comparisons cannot be chained; combine them with * (and) or where()')
      return this.#made(cmp!, this.#graph.apply(COMPARE[cmp!.text]!, [left, side]))
    }
  }

  /**
   * unary := ('-' | '+') unary | power, power := primary (('^' | '**') unary)?: a chain such as
   * `-a ^ -b ^ c` is read left to right as links (signs, base), then folded from the right
   * (`^` is right-associative, `-x^2` = -(x^2)), so a long chain costs no stack. Every sign and
   * every `^` is a level of nesting (maxDepth), as if the grammar's recursion were taken.
   */
  #unary(): Expr {
    const depth = this.#depth
    const links: { signs: Token[]; base: Expr; caret: Token | undefined }[] = []
    for (;;) {
      const signs: Token[] = []
      for (let t = this.#peek(); t.type === 'op' && (t.text === '-' || t.text === '+'); t = this.#peek()) {
        this.#deeper(t)
        this.#pos++
        signs.push(t)
      }
      const base = this.#primary()
      const t = this.#peek()
      const caret = t.type === 'op' && (t.text === '^' || t.text === '**') ? t : undefined
      links.push({ signs, base, caret })
      if (!caret) break
      this.#deeper(caret)
      this.#pos++
    }
    this.#depth = depth
    let e: Expr | undefined
    for (let k = links.length - 1; k >= 0; k--) {
      const { signs, base, caret } = links[k]!
      e = e === undefined ? base : this.#made(caret!, this.#graph.apply('pow', [base, e]))
      for (let j = signs.length - 1; j >= 0; j--) if (signs[j]!.text === '-') e = this.#made(signs[j]!, this.#graph.apply('neg', [e]))
    }
    return e!
  }

  #primary(): Expr {
    const t = this.#peek()
    if (t.type === 'num') {
      this.#pos++
      return this.#made(t, this.#graph.constant(t.value))
    }
    if (t.type === 'name') {
      this.#pos++
      const open = this.#peek()
      if (!(open.type === 'op' && open.text === '(')) return this.#variable(t)
      // A call, read here rather than in a method of its own: one frame less per level of nesting.
      const fn = t
      if (!isOpName(fn.text)) this.#fail(fn, `unknown function '${fn.text}' (known: ${functions()})`)
      this.#pos++
      const args: Expr[] = []
      if (!(this.#peek().type === 'op' && this.#peek().text === ')')) {
        this.#deeper(open)
        for (;;) {
          args.push(this.#compare())
          const u = this.#peek()
          if (!(u.type === 'op' && u.text === ',')) break
          this.#pos++
        }
        this.#depth--
      }
      this.#expect(')', open)
      const arity = OPS[fn.text].arity
      if (args.length !== arity) this.#fail(fn, `${fn.text} takes ${arity} argument${arity > 1 ? 's' : ''}, got ${args.length}`)
      return this.#made(fn, this.#graph.apply(fn.text, args))
    }
    if (t.type === 'op' && t.text === '(') {
      this.#deeper(t)
      this.#pos++
      const e = this.#compare()
      this.#expect(')', t)
      this.#depth--
      return e
    }
    if (t.type === 'end' || t.type === 'sep') this.#fail(t, 'unexpected end of statement: an expression is missing')
    return this.#fail(t, `unexpected ${show(t)}: expected a number, a name or '('`)
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
      return this.#made(t, this.#graph.constant(constant))
    }
    if (!this.#readAt.has(t.text)) this.#readAt.set(t.text, t.at)
    return this.#made(t, this.#graph.input(t.text))
  }

  /** Node budget: `e` was just made for token `t`; past maxNodes the program stops there. */
  #made(t: Token, e: Expr): Expr {
    const max = this.#limits.maxNodes
    if (this.#graph.nodeCount > max) this.#fail(t, `the program needs more than ${max} graph nodes (the maxNodes option sets this limit)`)
    return e
  }

  /**
   * One level deeper (a parenthesis, a call's arguments, a sign, a `^`), opened by token `t`:
   * deeper than maxDepth is a ParseError there, never a stack overflow. The caller steps back out.
   */
  #deeper(t: Token): void {
    const max = this.#limits.maxDepth
    if (++this.#depth > max) this.#fail(t, `expression nested too deeply (more than ${max} levels): the maxDepth option sets this limit`)
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
