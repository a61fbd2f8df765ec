#!/usr/bin/env python3
"""Renders real chat templates (and small Jinja snippets) with Jinja2 set up as Hugging Face's
`apply_chat_template` sets it up, and writes the expected renderings as Swift source for
Tests/Support/ChatTemplateFixtures.swift.

    python3 Scripts/chat_template_fixtures.py > Tests/Support/ChatTemplateFixtures.swift
"""
import json
import sys

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


ENV = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
ENV.filters["tojson"] = tojson
ENV.globals["raise_exception"] = raise_exception

SMOLLM2 = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

LLAMA31 = """{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- set date_string = "26 Jul 2024" %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message + builtin tools #}
{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{%- if builtin_tools is defined or tools is not none %}
    {{- "Environment: ipython\\n" }}
{%- endif %}
{%- if builtin_tools is defined %}
    {{- "Tools: " + builtin_tools | reject('equalto', 'code_interpreter') | join(", ") + "\\n\\n"}}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\\n" }}
{{- "Today Date: " + date_string + "\\n\\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\\n\\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\\n\\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {#- Extract the first user message so we can plug it in here #}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\\n\\n" }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\\n\\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\\n\\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {%- if builtin_tools is defined and tool_call.name in builtin_tools %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}
            {{- "<|python_tag|>" + tool_call.name + ".call(" }}
            {%- for arg_name, arg_val in tool_call.arguments | items %}
                {{- arg_name + '="' + arg_val + '"' }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- endif %}
                {%- endfor %}
            {{- ")" }}
        {%- else  %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}
            {{- '{"name": "' + tool_call.name + '", ' }}
            {{- '"parameters": ' }}
            {{- tool_call.arguments | tojson }}
            {{- "}" }}
        {%- endif %}
        {%- if builtin_tools is defined %}
            {#- This means we're in ipython mode #}
            {{- "<|eom_id|>" }}
        {%- else %}
            {{- "<|eot_id|>" }}
        {%- endif %}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\\n\\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
{%- endif %}
"""

QWEN25 = """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""

MISTRAL_V01 = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)

MISTRAL_V03 = """{%- if messages[0]["role"] == "system" %}
    {%- set system_message = messages[0]["content"] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}
{%- set user_messages = loop_messages | selectattr("role", "equalto", "user") | list %}

{#- This block checks for alternating user/assistant messages, skipping tool calling messages #}
{%- set ns = namespace() %}
{%- set ns.index = 0 %}
{%- for message in loop_messages %}
    {%- if not (message.role == "tool" or message.role == "tool_results" or (message.tool_calls is defined and message.tool_calls is not none)) %}
        {%- if (message["role"] == "user") != (ns.index % 2 == 0) %}
            {{- raise_exception("After the optional system message, conversation roles must alternate user/assistant/user/assistant/...") }}
        {%- endif %}
        {%- set ns.index = ns.index + 1 %}
    {%- endif %}
{%- endfor %}

{{- bos_token }}
{%- for message in loop_messages %}
    {%- if message["role"] == "user" %}
        {%- if tools is not none and (message == user_messages[-1]) %}
            {{- "[AVAILABLE_TOOLS] [" }}
            {%- for tool in tools %}
                {%- set tool = tool.function %}
                {{- '{"type": "function", "function": {' }}
                {%- for key, val in tool.items() if key != "return" %}
                    {%- if val is string %}
                        {{- '"' + key + '": "' + val + '"' }}
                    {%- else %}
                        {{- '"' + key + '": ' + val|tojson }}
                    {%- endif %}
                    {%- if not loop.last %}
                        {{- ", " }}
                    {%- endif %}
                {%- endfor %}
                {{- "}}" }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- else %}
                    {{- "]" }}
                {%- endif %}
            {%- endfor %}
            {{- "[/AVAILABLE_TOOLS]" }}
            {%- endif %}
        {%- if loop.last and system_message is defined %}
            {{- "[INST] " + system_message + "\\n\\n" + message["content"] + "[/INST]" }}
        {%- else %}
            {{- "[INST] " + message["content"] + "[/INST]" }}
        {%- endif %}
    {%- elif message.tool_calls is defined and message.tool_calls is not none %}
        {{- "[TOOL_CALLS] [" }}
        {%- for tool_call in message.tool_calls %}
            {%- set out = tool_call.function|tojson %}
            {{- out[:-1] }}
            {%- if not tool_call.id is defined or tool_call.id|length != 9 %}
                {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
            {%- endif %}
            {{- ', "id": "' + tool_call.id + '"}' }}
            {%- if not loop.last %}
                {{- ", " }}
            {%- else %}
                {{- "]" + eos_token }}
            {%- endif %}
        {%- endfor %}
    {%- elif message["role"] == "assistant" %}
        {{- " " + message["content"]|trim + eos_token}}
    {%- elif message["role"] == "tool_results" or message["role"] == "tool" %}
        {%- if message.content is defined and message.content.content is defined %}
            {%- set content = message.content.content %}
        {%- else %}
            {%- set content = message.content %}
        {%- endif %}
        {{- '[TOOL_RESULTS] {"content": ' + content|string + ", " }}
        {%- if not message.tool_call_id is defined or message.tool_call_id|length != 9 %}
            {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
        {%- endif %}
        {{- '"call_id": "' + message.tool_call_id + '"}[/TOOL_RESULTS]' }}
    {%- else %}
        {{- raise_exception("Only user and assistant roles are supported, with the exception of an initial optional system message!") }}
    {%- endif %}
{%- endfor %}
"""

GEMMA = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}"
)

GEMMA3 = """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\n'}}
{%- endif -%}
"""

USER = {"role": "user", "content": "What is the boiling point of water?"}
SYSTEM = {"role": "system", "content": "  Answer briefly.  "}
MULTI = [
    {"role": "user", "content": "Hello, how are you?"},
    {"role": "assistant", "content": " I'm doing great. How can I help you today? "},
    {"role": "user", "content": "Tell me a joke about \"quotes\" & <tags> — naïve café ☕"},
]
TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string", "enum": ["Paris", "Zürich"]},
                                                           "days": {"type": "integer", "minimum": 1}},
                       "required": ["city"]},
    },
}]
TOOL_CALL_TURNS = [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": "", "tool_calls": [
        {"id": "abcDEF123", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}}]},
    {"role": "tool", "tool_call_id": "abcDEF123", "content": "{\"temp\": 21.5, \"sky\": \"clear\"}"},
]


def conversations(with_tools):
    cases = [
        ("user", {"messages": [USER], "add_generation_prompt": True}),
        ("user no generation prompt", {"messages": [USER], "add_generation_prompt": False}),
        ("system and user", {"messages": [SYSTEM, USER], "add_generation_prompt": True}),
        ("multi-turn", {"messages": MULTI, "add_generation_prompt": True}),
        ("system and multi-turn", {"messages": [SYSTEM] + MULTI, "add_generation_prompt": False}),
        ("assistant first", {"messages": [{"role": "assistant", "content": "Hi"}, USER], "add_generation_prompt": True}),
        ("empty content", {"messages": [{"role": "user", "content": ""}], "add_generation_prompt": True}),
    ]
    if with_tools:
        cases.append(("tools", {"messages": [USER], "tools": TOOLS, "add_generation_prompt": True}))
        cases.append(("tool calls", {"messages": TOOL_CALL_TURNS, "tools": TOOLS, "add_generation_prompt": True}))
    return cases


TEMPLATES = [
    ("SmolLM2 (ChatML)", SMOLLM2, "<|im_start|>", "<|im_end|>", False),
    ("Llama 3", LLAMA3, "<|begin_of_text|>", "<|eot_id|>", False),
    ("Llama 3.1", LLAMA31, "<|begin_of_text|>", "<|eot_id|>", True),
    ("Qwen 2.5", QWEN25, "", "<|im_end|>", True),
    ("Mistral v0.1", MISTRAL_V01, "<s>", "</s>", False),
    ("Mistral v0.3", MISTRAL_V03, "<s>", "</s>", True),
    ("Gemma", GEMMA, "<bos>", "<eos>", False),
    ("Gemma 3", GEMMA3, "<bos>", "<eos>", False),
]

# Small templates exercising one feature each: (template, context).
SNIPPETS = [
    ("{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 7 / 2 }}", {}),
    ("{{ 'a' ~ 1 ~ none }} {{ 'x' * 3 }} {{ [1, 2] + [3] }} {{ 1.5 + 1 }} {{ 3.0 }} {{ 1e3 }}", {}),
    ("{{ true and 'yes' }} {{ false or 'no' }} {{ not none }} {{ 'b' in 'abc' }} {{ 4 not in [1, 2] }}", {}),
    ("{{ 1 == 1.0 }} {{ 'a' < 'b' }} {{ 2 >= 3 }} {{ none is none }} {{ x is defined }} {{ x is not defined }}", {}),
    ("{{ 'yes' if n > 1 else 'no' }}-{{ 'only' if false }}-", {"n": 2}),
    ("{{ items }} {{ d }} {{ none }} {{ true }} {{ [1, 'two', none, 2.5] }}", {"items": ["a", "b'c"], "d": {"k": [1, {"z": None}]}}),
    ("{{ s[0] }}{{ s[-1] }} {{ s[1:3] }} {{ s[::-1] }} {{ s[:-2] }} {{ l[1:] }} {{ l[-2:] }} {{ l[5] }}.", {"s": "hello", "l": [1, 2, 3]}),
    ("{% for x in l %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.first }}/{{ loop.last }}/{{ loop.length }} {% endfor %}", {"l": "abc"}),
    ("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %} {% for k in d %}{{ k }}{% endfor %}", {"d": {"b": 1, "a": 2}}),
    ("{% for x in l if x % 2 %}{{ x }}{% else %}none{% endfor %} {% for x in [] %}{{ x }}{% else %}empty{% endfor %}", {"l": [1, 2, 3, 4, 5]}),
    ("{% for x in l %}{% if x == 3 %}{% break %}{% endif %}{% if x == 1 %}{% continue %}{% endif %}{{ x }}{% endfor %}", {"l": [1, 2, 3, 4]}),
    ("{% set x = 1 %}{% for i in l %}{% set x = i %}{% endfor %}{{ x }} {% set ns = namespace(x=1) %}{% for i in l %}{% set ns.x = i %}{% endfor %}{{ ns.x }}", {"l": [5, 6]}),
    ("{% set a, b = 1, 2 %}{{ a }}{{ b }} {% set t %}inner {{ a }}{% endset %}[{{ t }}]", {}),
    ("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Bob') }} {{ greet('Al', punct='?') }}", {}),
    ("{{ '  pad  ' | trim }}|{{ 'abc' | upper }}|{{ 'ABC' | lower }}|{{ 'hello world' | title }}|{{ 'hELLO' | capitalize }}", {}),
    ("{{ l | length }} {{ l | first }} {{ l | last }} {{ l | join(', ') }} {{ l | reverse | list }} {{ l | sort | list }} {{ 'abc' | list }}", {"l": [3, 1, 2]}),
    ("{{ x | default('dflt') }} {{ '' | default('e', true) }} {{ none | string }} {{ '42' | int + 1 }} {{ '2.5' | float }} {{ -3 | abs }}", {}),
    ("{{ d | tojson }} {{ d | tojson(indent=2) }} {{ 'é\"\\n' | tojson }} {{ [] | tojson }} {{ {} | tojson(indent=2) }}", {"d": {"b": [1, 2.5, None, True], "a": "x"}}),
    ("{{ ms | selectattr('role', 'equalto', 'user') | map(attribute='content') | join('|') }} {{ ms | rejectattr('role', 'eq', 'user') | list | length }}", {"ms": [{"role": "user", "content": "a"}, {"role": "bot", "content": "b"}, {"role": "user", "content": "c"}]}),
    ("{{ [1, 2, 3, 4] | select('odd') | list }} {{ [1, 2, 3] | reject('even') | list }} {{ ['a', 'b', 'a'] | unique | list }} {{ [1, 2] | map('string') | join }}", {}),
    ("{{ ' a b  c '.split() }} {{ 'a,b,,c'.split(',') }} {{ 'a,b,c'.split(',', 1) }} {{ 'x</think>y'.split('</think>')[-1] }} {{ 'ab'.startswith('a') }} {{ 'ab'.endswith(('x', 'b')) }}", {}),
    ("{{ '  s  '.strip() }}|{{ 'xxsxx'.strip('x') }}|{{ '  s'.lstrip() }}|{{ 's  '.rstrip() }}|{{ 'aXa'.replace('a', 'b') }}|{{ 'Hi'.upper() }}|{{ d.get('k') }}|{{ d.get('z', 'no') }}|{{ d.keys() | list }}", {"d": {"k": 1}}),
    ("A\n  {% if true %}\n    B\n  {% endif %}\nC\n{# comment #}\nD  {{ 'x' }}  \n", {}),
    ("A  {%- if true -%}  B  {%- endif -%}  C {{- ' D ' -}} E\n{%+ if true %}F{% endif +%}\nG", {}),
    ("{{ 'a' + b | trim + 'c' }} {{ -2 ** 2 }} {{ 10 - 2 - 3 }} {{ 2 ** 3 ** 2 }} {{ 1 + 2 ~ 'a' if false else 'c' ~ 1 }}", {"b": "  B  "}),
    ("{% for m in ms %}{{ m.role }}{{ m['content'] }}{{ m.missing }}{% endfor %} {{ ms[0].role is string }} {{ ms is iterable }} {{ 5 is divisibleby(5) }} {{ 3 is odd }}", {"ms": [{"role": "r", "content": "c"}]}),
    ("{{ x is none }} {{ y is mapping }} {{ z is sequence }} {{ 1 is number }} {{ 'a' is string }} {{ n is integer }} {{ f is float }} {{ b is boolean }} {{ t is true }}", {"x": None, "y": {}, "z": [1], "n": 1, "f": 1.5, "b": False, "t": True}),
    ("{% if a %}1{% elif b %}2{% else %}3{% endif %}{% if not a and not b %}4{% endif %}", {"a": False, "b": []}),
    ("{{ \"double 'quoted'\" }} {{ 'tab\\there' }} {{ 'uni\\u00e9' }} {{ 'con' 'cat' }}", {}),
    ("{%- for i in range(3) %}{{ i }}{% endfor %} {{ range(1, 7, 2) | list }} {{ [3, 1, 2] | max }} {{ [3, 1, 2] | min }} {{ [1, 2, 3] | sum }}", {}),
    ("{{ 'line1\nline2' | indent(2) }}|{{ 'a\n\nb' | indent(2, true) }}", {}),
    ("{% for a in [[1, 2], [3, 4]] %}{% for b in a %}{{ loop.index }}{{ b }}{% endfor %}:{{ loop.index }} {% endfor %}", {}),
    ("{% macro loop_cycle() %}{% for i in range(4) %}{{ loop.cycle('a', 'b') }}{% endfor %}{% endmacro %}{{ loop_cycle() }}", {}),
    ("{{ d['a']['b'] }} {{ d.a.b }} {{ d.x }} {{ l[10] }}.", {"d": {"a": {"b": "deep"}}, "l": [1]}),
    ("{{ 'é' | length }} {{ 'naïve'[2] }} {{ 'Straße' | upper }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }}", {}),
]


def raw(s):
    """A Swift raw string literal holding exactly `s` (newlines written as escapes)."""
    hashes = "#"
    while ('"' + hashes) in s or ('\\' + hashes) in s:
        hashes += "#"
    escaped = "".join(f"\\{hashes}u{{{ord(c):x}}}" if ord(c) < 0x20 or ord(c) == 0x7F else c for c in s)
    return hashes + '"' + escaped + '"' + hashes


def main():
    out = sys.stdout
    out.write("// Generated by Scripts/chat_template_fixtures.py from Jinja2 " + jinja2.__version__ + "; do not edit.\n")
    out.write("// Templates as Hugging Face model repositories ship them; expected text as `apply_chat_template` renders it.\n\n")
    out.write("public enum ChatTemplateFixtures {\n")
    out.write("    public struct Case: Sendable {\n        public var name: String\n        public var context: String\n        public var expected: String?\n        public var error: String?\n    }\n\n")
    out.write("    public struct Template: Sendable {\n        public var name: String\n        public var source: String\n        public var bosToken: String\n        public var eosToken: String\n        public var cases: [Case]\n    }\n\n")
    out.write("    public static let templates: [Template] = [\n")
    for name, source, bos, eos, with_tools in TEMPLATES:
        template = ENV.from_string(source)
        out.write(f"        Template(name: {raw(name)}, source: {raw(source)}, bosToken: {raw(bos)}, eosToken: {raw(eos)}, cases: [\n")
        for case_name, context in conversations(with_tools):
            full = dict(context, bos_token=bos, eos_token=eos)
            try:
                expected, error = template.render(**full), None
            except jinja2.exceptions.TemplateError as e:
                expected, error = None, str(e)
            ctx = json.dumps(context, ensure_ascii=False)
            exp = "nil" if expected is None else raw(expected)
            err = "nil" if error is None else raw(error)
            out.write(f"            Case(name: {raw(case_name)}, context: {raw(ctx)}, expected: {exp}, error: {err}),\n")
        out.write("        ]),\n")
    out.write("    ]\n\n")
    out.write("    /// (template, context JSON, expected output)\n")
    out.write("    public static let snippets: [(template: String, context: String, expected: String)] = [\n")
    for source, context in SNIPPETS:
        expected = ENV.from_string(source).render(**context)
        out.write(f"        ({raw(source)}, {raw(json.dumps(context, ensure_ascii=False))}, {raw(expected)}),\n")
    out.write("    ]\n}\n")


if __name__ == "__main__":
    main()
