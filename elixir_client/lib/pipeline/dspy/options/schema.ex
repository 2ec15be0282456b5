defmodule Pipeline.DSPy.Options.Schema do
  @moduledoc """
  A small option-schema mechanism in the manner of NimbleOptions (which cannot be fetched
  here): one keyword list per option set validates what a caller passed and generates the
  documentation table of that set, so the two cannot drift apart.

  A schema is a keyword list of `option: spec`, `spec` a keyword list with

    * `:type` - see "Types" (required)
    * `:default` - filled in when the option is absent (`nil`: no default)
    * `:doc` - one sentence for the table (required)
    * `:doc_default` - how the default is shown when `inspect(default)` would not say it
    * `:keys` - for `type: :keys`, the schema of the nested keyword list or map

  ## Types

  `:atom`, `:string` (non-empty), `:boolean`, `:integer`, `:pos_integer`,
  `:non_neg_integer`, `:number`, `:pos_number`, `:non_neg_number`, `:map`,
  `:keyword_or_map`, `:timeout` (a positive integer of ms or `:infinity`), `:name` (a
  non-empty string or an atom), `{:list, type}`, `{:in, values}`, `{:fun, arity}`,
  `{:or, [type]}`, `:keys` (a keyword list or map checked against `:keys`, atom or string
  keys), `{:custom, {module, fun}, description}` (`module.fun(value)` returns a boolean).

  A `nil` value counts as absent. Errors name the option as the caller wrote it: `budget_usd must be a positive number,
  got "2"`; an unknown key names the closest known one.
  """

  @doc """
  Makes the calling module an option set: `use Pipeline.DSPy.Options.Schema, schema: [...],
  context: "optimize/2", intro: "..."` gives it a moduledoc (`intro` then the generated
  table), `schema/0` and `validate/1,2` returning
  `{:error, %Pipeline.DSPy.Error{reason: :invalid_option}}` on bad options.
  """
  defmacro __using__(opts) do
    quote bind_quoted: [opts: opts] do
      @schema Keyword.fetch!(opts, :schema)
      @context Keyword.fetch!(opts, :context)
      @moduledoc Keyword.fetch!(opts, :intro) <>
                   "\n\n" <> Pipeline.DSPy.Options.Schema.docs(@schema)

      @doc "The schema (see `Pipeline.DSPy.Options.Schema`)."
      @spec schema() :: Pipeline.DSPy.Options.Schema.t()
      def schema, do: @schema

      @doc "Validates options against the schema; `context` names the function in messages."
      @spec validate(term, String.t()) :: {:ok, keyword} | {:error, Pipeline.DSPy.Error.t()}
      def validate(opts, context \\ @context),
        do: Pipeline.DSPy.Options.validate_call(opts, @schema, context)
    end
  end

  @type type ::
          atom
          | {:list, type}
          | {:in, [term]}
          | {:fun, non_neg_integer}
          | {:or, [type]}
          | {:custom, {module, atom}, String.t()}
  @type t :: keyword(keyword)

  @doc """
  Validates `opts` (a keyword list) against `schema`; `context` names the option set in
  messages (e.g. `"optimize/2"`). Returns the options with defaults filled in, in the order
  given (defaults last), or `{:error, message}`.
  """
  @spec validate(term, t, String.t()) :: {:ok, keyword} | {:error, String.t()}
  def validate(opts, schema, context) do
    if is_list(opts) and Keyword.keyword?(opts) do
      # nil is "not given" (callers pass `lm: opts[:lm]`): the default applies
      opts = Enum.reject(opts, fn {_, v} -> v == nil end)

      with :ok <- check_keys(Keyword.keys(opts), schema, context, ""),
           :ok <- check_values(opts, schema, context, "") do
        defaults =
          for {key, spec} <- schema,
              spec[:default] != nil,
              not Keyword.has_key?(opts, key),
              do: {key, spec[:default]}

        {:ok, opts ++ defaults}
      end
    else
      {:error, "the options of #{context} must be a keyword list, got #{inspect(opts)}"}
    end
  end

  defp check_keys(keys, schema, context, prefix) do
    known = Keyword.keys(schema)

    case Enum.find(keys, &(not known?(&1, known))) do
      nil ->
        :ok

      key ->
        {:error,
         "unknown option #{inspect(key)}#{if prefix == "", do: "", else: " in #{String.trim_trailing(prefix, ".")}"} for #{context}#{suggest(key, known)}"}
    end
  end

  defp known?(key, known) when is_atom(key), do: key in known
  defp known?(key, known) when is_binary(key), do: Enum.any?(known, &(Atom.to_string(&1) == key))
  defp known?(_, _), do: false

  defp suggest(key, known) do
    typed = to_string(key)

    case Enum.max_by(known, &String.jaro_distance(Atom.to_string(&1), typed), fn -> nil end) do
      nil ->
        "; known: #{Enum.map_join(known, ", ", &Atom.to_string/1)}"

      best ->
        if String.jaro_distance(Atom.to_string(best), typed) >= 0.8,
          do: " (did you mean #{best}?)",
          else: "; known: #{Enum.map_join(known, ", ", &Atom.to_string/1)}"
    end
  end

  defp check_values(opts, schema, context, prefix) do
    opts
    |> Enum.reject(fn {_, v} -> v == nil end)
    |> Enum.reduce_while(:ok, fn {key, value}, :ok ->
      spec = Keyword.fetch!(schema, to_atom_key(key, schema))
      name = "#{prefix}#{key}"

      case check(spec[:type], spec, value, name, context) do
        :ok -> {:cont, :ok}
        {:error, _} = err -> {:halt, err}
      end
    end)
  end

  defp to_atom_key(key, _schema) when is_atom(key), do: key

  defp to_atom_key(key, schema),
    do: Enum.find(Keyword.keys(schema), &(Atom.to_string(&1) == key))

  defp check(:keys, spec, value, name, context) do
    map_like? = is_map(value) or (is_list(value) and Keyword.keyword?(value))

    if map_like? do
      pairs = Enum.to_list(value)

      with :ok <- check_keys(Enum.map(pairs, &elem(&1, 0)), spec[:keys], context, name <> "."),
           do: check_values(pairs, spec[:keys], context, name <> ".")
    else
      type_error(:keys, value, name)
    end
  end

  defp check(type, _spec, value, name, _context) do
    if valid?(type, value), do: :ok, else: type_error(type, value, name)
  end

  defp type_error(type, value, name),
    do: {:error, "#{name} must be #{describe(type)}, got #{inspect(value)}"}

  @doc "Whether `value` is of `type` (for types without nested keys)."
  @spec valid?(type, term) :: boolean
  def valid?(:atom, v), do: is_atom(v) and v not in [nil, true, false]
  def valid?(:string, v), do: is_binary(v) and v != ""
  def valid?(:name, v), do: valid?(:string, v) or valid?(:atom, v)
  def valid?(:boolean, v), do: is_boolean(v)
  def valid?(:integer, v), do: is_integer(v)
  def valid?(:pos_integer, v), do: is_integer(v) and v > 0
  def valid?(:non_neg_integer, v), do: is_integer(v) and v >= 0
  def valid?(:number, v), do: is_number(v)
  def valid?(:pos_number, v), do: is_number(v) and v > 0
  def valid?(:non_neg_number, v), do: is_number(v) and v >= 0
  def valid?(:map, v), do: is_map(v)
  def valid?(:keyword_or_map, v), do: is_map(v) or (is_list(v) and Keyword.keyword?(v))
  def valid?(:timeout, v), do: v == :infinity or (is_integer(v) and v > 0)
  def valid?({:list, t}, v), do: is_list(v) and Enum.all?(v, &valid?(t, &1))
  def valid?({:in, values}, v), do: v in values
  def valid?({:fun, arity}, v), do: is_function(v, arity)
  def valid?({:or, types}, v), do: Enum.any?(types, &valid?(&1, v))
  def valid?({:custom, {m, f}, _}, v), do: apply(m, f, [v]) == true

  @doc "The type in words, as messages and the documentation table say it."
  @spec describe(type) :: String.t()
  def describe(:atom), do: "an atom"
  def describe(:string), do: "a non-empty string"
  def describe(:name), do: "a non-empty string or an atom"
  def describe(:boolean), do: "a boolean"
  def describe(:integer), do: "an integer"
  def describe(:pos_integer), do: "a positive integer"
  def describe(:non_neg_integer), do: "a non-negative integer"
  def describe(:number), do: "a number"
  def describe(:pos_number), do: "a positive number"
  def describe(:non_neg_number), do: "a non-negative number"
  def describe(:map), do: "a map"
  def describe(:keyword_or_map), do: "a keyword list or map"
  def describe(:keys), do: "a keyword list or map"
  def describe(:timeout), do: "a positive integer (ms) or :infinity"
  def describe({:list, t}), do: "a list of #{plural(describe(t))}"
  def describe({:in, values}), do: "one of #{Enum.map_join(values, ", ", &inspect/1)}"
  def describe({:fun, arity}), do: "a function of arity #{arity}"
  def describe({:or, types}), do: Enum.map_join(types, " or ", &describe/1)
  def describe({:custom, _, description}), do: description

  defp plural("a " <> rest), do: pluralize(rest)
  defp plural("an " <> rest), do: pluralize(rest)
  defp plural(other), do: other

  defp pluralize(words) do
    case String.split(words, " or ") do
      [one] -> one <> "s"
      many -> Enum.map_join(many, " or ", &plural/1)
    end
  end

  @doc """
  The Markdown table documenting `schema` (option, type, default, meaning); nested `:keys`
  options follow as `parent.child` rows.
  """
  @spec docs(t) :: String.t()
  def docs(schema) do
    header = "| option | type | default | meaning |\n|---|---|---|---|\n"
    header <> Enum.map_join(rows(schema, ""), "\n", & &1) <> "\n"
  end

  defp rows(schema, prefix) do
    Enum.flat_map(schema, fn {key, spec} ->
      name = "#{prefix}#{key}"

      row =
        "| `:#{name}` | #{escape(describe(spec[:type]))} | #{escape(default_text(spec))} | #{escape(spec[:doc] || "")} |"

      nested = if spec[:type] == :keys, do: rows(spec[:keys], name <> "."), else: []
      [row | nested]
    end)
  end

  defp default_text(spec) do
    cond do
      spec[:doc_default] -> spec[:doc_default]
      spec[:default] == nil -> "-"
      true -> "`#{inspect(spec[:default])}`"
    end
  end

  defp escape(text), do: String.replace(text, "|", "\\|")
end
