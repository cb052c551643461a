{
	"patcher": {
		"fileversion": 1,
		"appversion": {
			"major": 8,
			"minor": 6,
			"revision": 5,
			"architecture": "x64",
			"modernui": 1
		},
		"classnamespace": "box",
		"rect": [
			30.0,
			60.0,
			1500.0,
			950.0
		],
		"openinpresentation": 1,
		"default_fontsize": 12.0,
		"default_fontface": 0,
		"default_fontname": "Arial",
		"gridsize": [
			15.0,
			15.0
		],
		"dependency_cache": [],
		"autosave": 0,
		"boxes": [
			{
				"box": {
					"id": "obj-1",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						15.0,
						8.0,
						1000.0,
						20.0
					],
					"text": "AudioLDM text-to-audio  \u00b7  OSC client for the audioldm-daw engine  (requests to 127.0.0.1:9000, replies on 9001)",
					"fontsize": 16.0,
					"fontface": 1
				}
			},
			{
				"box": {
					"id": "obj-2",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						15.0,
						36.0,
						1300.0,
						48.0
					],
					"text": "Start the engine first (audioldm-daw serve). Type a prompt (1), set the parameters (2), click a request button (3). Progress and status show in 6; the finished clip loads into the buffer in 7: play it here, audition it on the engine's output device, or drag the file from the clips folder into your DAW. Long-distance connections are send/receive pairs named ---audioldm_... (Max for Live makes --- names private to each device).",
					"linecount": 3
				}
			},
			{
				"box": {
					"id": "obj-3",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						15.0,
						92.0,
						300.0,
						20.0
					],
					"text": "1 \u00b7 PROMPT",
					"fontface": 1
				}
			},
			{
				"box": {
					"id": "obj-4",
					"maxclass": "newobj",
					"numinlets": 0,
					"numoutlets": 1,
					"patching_rect": [
						15.0,
						114.0,
						160.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "r ---audioldm_getprompt"
				}
			},
			{
				"box": {
					"id": "obj-5",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						185.0,
						114.0,
						460.0,
						20.0
					],
					"text": "<- each request button pulls the current text (bang); Return only stores it"
				}
			},
			{
				"box": {
					"id": "obj-6",
					"maxclass": "textedit",
					"numinlets": 1,
					"numoutlets": 4,
					"patching_rect": [
						15.0,
						142.0,
						825.0,
						48.0
					],
					"outlettype": [
						"",
						"int",
						"",
						""
					],
					"presentation": 1,
					"presentation_rect": [
						5.0,
						5.0,
						315.0,
						48.0
					]
				}
			},
			{
				"box": {
					"id": "obj-7",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 2,
					"patching_rect": [
						15.0,
						198.0,
						80.0,
						22.0
					],
					"outlettype": [
						"",
						""
					],
					"text": "route text"
				}
			},
			{
				"box": {
					"id": "obj-8",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						105.0,
						198.0,
						470.0,
						20.0
					],
					"text": "textedit sends 'text w1 w2 ...' (or the words alone): both outlets go on"
				}
			},
			{
				"box": {
					"id": "obj-9",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						15.0,
						226.0,
						170.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "tosymbol @separator \" \""
				}
			},
			{
				"box": {
					"id": "obj-10",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						195.0,
						226.0,
						470.0,
						20.0
					],
					"text": "-> ONE symbol with its spaces: the prompt travels as a single OSC string"
				}
			},
			{
				"box": {
					"id": "obj-11",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						15.0,
						254.0,
						140.0,
						22.0
					],
					"text": "s ---audioldm_prompt"
				}
			},
			{
				"box": {
					"id": "obj-12",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						15.0,
						292.0,
						300.0,
						20.0
					],
					"text": "2 \u00b7 PARAMETERS",
					"fontface": 1
				}
			},
			{
				"box": {
					"id": "obj-13",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						15.0,
						314.0,
						400.0,
						76.0
					],
					"text": "Sent as key value pairs. 'use bpm+bars' sends bpm and bars (length = bars x 4 x 60 / bpm) instead of duration. 'new seed each' rolls a seed for every request (the seed sent is shown); untick it to reuse one. inpaint start / end: the span in seconds that inpaint regenerates.",
					"linecount": 5
				}
			},
			{
				"box": {
					"id": "obj-14",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						15.0,
						396.0,
						95.0,
						20.0
					],
					"text": "duration (s)",
					"presentation": 1,
					"presentation_rect": [
						330.0,
						5.0,
						76.0,
						20.0
					]
				}
			},
			{
				"box": {
					"id": "obj-15",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						15.0,
						418.0,
						90.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "loadmess 10."
				}
			},
			{
				"box": {
					"id": "obj-16",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						15.0,
						444.0,
						60.0,
						22.0
					],
					"outlettype": [
						"",
						"bang"
					],
					"presentation": 1,
					"presentation_rect": [
						408.0,
						5.0,
						42.0,
						22.0
					],
					"parameter_enable": 0,
					"minimum": 0.5,
					"maximum": 60.0
				}
			},
			{
				"box": {
					"id": "obj-17",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						115.0,
						396.0,
						95.0,
						20.0
					],
					"text": "bpm",
					"presentation": 1,
					"presentation_rect": [
						330.0,
						29.0,
						76.0,
						20.0
					]
				}
			},
			{
				"box": {
					"id": "obj-18",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						115.0,
						418.0,
						90.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "loadmess 120."
				}
			},
			{
				"box": {
					"id": "obj-19",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						115.0,
						444.0,
						60.0,
						22.0
					],
					"outlettype": [
						"",
						"bang"
					],
					"presentation": 1,
					"presentation_rect": [
						408.0,
						29.0,
						42.0,
						22.0
					],
					"parameter_enable": 0,
					"minimum": 20.0,
					"maximum": 300.0
				}
			},
			{
				"box": {
					"id": "obj-20",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						215.0,
						396.0,
						95.0,
						20.0
					],
					"text": "bars",
					"presentation": 1,
					"presentation_rect": [
						330.0,
						53.0,
						76.0,
						20.0
					]
				}
			},
			{
				"box": {
					"id": "obj-21",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						215.0,
						418.0,
						90.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "loadmess 4"
				}
			},
			{
				"box": {
					"id": "obj-22",
					"maxclass": "number",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						215.0,
						444.0,
						60.0,
						22.0
					],
					"outlettype": [
						"",
						"bang"
					],
					"presentation": 1,
					"presentation_rect": [
						408.0,
						53.0,
						42.0,
						22.0
					],
					"parameter_enable": 0,
					"minimum": 1,
					"maximum": 64
				}
			},
			{
				"box": {
					"id": "obj-23",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						315.0,
						396.0,
						95.0,
						20.0
					],
					"text": "use bpm+bars",
					"presentation": 1,
					"presentation_rect": [
						330.0,
						77.0,
						76.0,
						20.0
					]
				}
			},
			{
				"box": {
					"id": "obj-24",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						315.0,
						418.0,
						90.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "loadmess 0"
				}
			},
			{
				"box": {
					"id": "obj-25",
					"maxclass": "toggle",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						315.0,
						444.0,
						24.0,
						24.0
					],
					"outlettype": [
						"int"
					],
					"presentation": 1,
					"presentation_rect": [
						408.0,
						77.0,
						20.0,
						20.0
					],
					"parameter_enable": 0
				}
			},
			{
				"box": {
					"id": "obj-26",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						15.0,
						482.0,
						95.0,
						20.0
					],
					"text": "steps",
					"presentation": 1,
					"presentation_rect": [
						330.0,
						101.0,
						76.0,
						20.0
					]
				}
			},
			{
				"box": {
					"id": "obj-27",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						15.0,
						504.0,
						90.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "loadmess 50"
				}
			},
			{
				"box": {
					"id": "obj-28",
					"maxclass": "number",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						15.0,
						530.0,
						60.0,
						22.0
					],
					"outlettype": [
						"",
						"bang"
					],
					"presentation": 1,
					"presentation_rect": [
						408.0,
						101.0,
						42.0,
						22.0
					],
					"parameter_enable": 0,
					"minimum": 1,
					"maximum": 1000
				}
			},
			{
				"box": {
					"id": "obj-29",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						115.0,
						482.0,
						95.0,
						20.0
					],
					"text": "guidance",
					"presentation": 1,
					"presentation_rect": [
						330.0,
						125.0,
						76.0,
						20.0
					]
				}
			},
			{
				"box": {
					"id": "obj-30",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						115.0,
						504.0,
						90.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "loadmess 2.5"
				}
			},
			{
				"box": {
					"id": "obj-31",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						115.0,
						530.0,
						60.0,
						22.0
					],
					"outlettype": [
						"",
						"bang"
					],
					"presentation": 1,
					"presentation_rect": [
						408.0,
						125.0,
						42.0,
						22.0
					],
					"parameter_enable": 0,
					"minimum": 0.0,
					"maximum": 20.0
				}
			},
			{
				"box": {
					"id": "obj-32",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						215.0,
						482.0,
						95.0,
						20.0
					],
					"text": "inpaint start",
					"presentation": 1,
					"presentation_rect": [
						452.0,
						5.0,
						76.0,
						20.0
					]
				}
			},
			{
				"box": {
					"id": "obj-33",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						215.0,
						504.0,
						90.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "loadmess 0."
				}
			},
			{
				"box": {
					"id": "obj-34",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						215.0,
						530.0,
						60.0,
						22.0
					],
					"outlettype": [
						"",
						"bang"
					],
					"presentation": 1,
					"presentation_rect": [
						530.0,
						5.0,
						42.0,
						22.0
					],
					"parameter_enable": 0,
					"minimum": 0.0
				}
			},
			{
				"box": {
					"id": "obj-35",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						315.0,
						482.0,
						95.0,
						20.0
					],
					"text": "inpaint end",
					"presentation": 1,
					"presentation_rect": [
						452.0,
						29.0,
						76.0,
						20.0
					]
				}
			},
			{
				"box": {
					"id": "obj-36",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						315.0,
						504.0,
						90.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "loadmess 2."
				}
			},
			{
				"box": {
					"id": "obj-37",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						315.0,
						530.0,
						60.0,
						22.0
					],
					"outlettype": [
						"",
						"bang"
					],
					"presentation": 1,
					"presentation_rect": [
						530.0,
						29.0,
						42.0,
						22.0
					],
					"parameter_enable": 0,
					"minimum": 0.0
				}
			},
			{
				"box": {
					"id": "obj-38",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						15.0,
						568.0,
						95.0,
						20.0
					],
					"text": "seed",
					"presentation": 1,
					"presentation_rect": [
						452.0,
						53.0,
						76.0,
						20.0
					]
				}
			},
			{
				"box": {
					"id": "obj-39",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						15.0,
						590.0,
						90.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "loadmess 42"
				}
			},
			{
				"box": {
					"id": "obj-40",
					"maxclass": "number",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						15.0,
						616.0,
						60.0,
						22.0
					],
					"outlettype": [
						"",
						"bang"
					],
					"presentation": 1,
					"presentation_rect": [
						530.0,
						53.0,
						42.0,
						22.0
					],
					"parameter_enable": 0,
					"minimum": 0
				}
			},
			{
				"box": {
					"id": "obj-41",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						115.0,
						568.0,
						95.0,
						20.0
					],
					"text": "new seed each",
					"presentation": 1,
					"presentation_rect": [
						452.0,
						77.0,
						76.0,
						20.0
					]
				}
			},
			{
				"box": {
					"id": "obj-42",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						115.0,
						590.0,
						90.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "loadmess 1"
				}
			},
			{
				"box": {
					"id": "obj-43",
					"maxclass": "toggle",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						115.0,
						616.0,
						24.0,
						24.0
					],
					"outlettype": [
						"int"
					],
					"presentation": 1,
					"presentation_rect": [
						530.0,
						77.0,
						20.0,
						20.0
					],
					"parameter_enable": 0
				}
			},
			{
				"box": {
					"id": "obj-44",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						215.0,
						568.0,
						95.0,
						20.0
					],
					"text": "loop",
					"presentation": 1,
					"presentation_rect": [
						452.0,
						101.0,
						76.0,
						20.0
					]
				}
			},
			{
				"box": {
					"id": "obj-45",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						215.0,
						590.0,
						90.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "loadmess 0"
				}
			},
			{
				"box": {
					"id": "obj-46",
					"maxclass": "toggle",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						215.0,
						616.0,
						24.0,
						24.0
					],
					"outlettype": [
						"int"
					],
					"presentation": 1,
					"presentation_rect": [
						530.0,
						101.0,
						20.0,
						20.0
					],
					"parameter_enable": 0
				}
			},
			{
				"box": {
					"id": "obj-47",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						315.0,
						568.0,
						95.0,
						20.0
					],
					"text": "strength",
					"presentation": 1,
					"presentation_rect": [
						452.0,
						125.0,
						76.0,
						20.0
					]
				}
			},
			{
				"box": {
					"id": "obj-48",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						315.0,
						590.0,
						90.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "loadmess 0.5"
				}
			},
			{
				"box": {
					"id": "obj-49",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						315.0,
						616.0,
						60.0,
						22.0
					],
					"outlettype": [
						"",
						"bang"
					],
					"presentation": 1,
					"presentation_rect": [
						530.0,
						125.0,
						42.0,
						22.0
					],
					"parameter_enable": 0,
					"minimum": 0.0,
					"maximum": 1.0
				}
			},
			{
				"box": {
					"id": "obj-50",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						440.0,
						292.0,
						300.0,
						20.0
					],
					"text": "3 \u00b7 REQUESTS",
					"fontface": 1
				}
			},
			{
				"box": {
					"id": "obj-51",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						440.0,
						314.0,
						400.0,
						76.0
					],
					"text": "generate: text to audio. variation / transfer / inpaint / upsample / continue work on the input file of section 8; transfer, inpaint, upsample and continue also send the prompt. Every click makes a new job id max-<session>-<n>. cancel stops the latest job; ask again re-sends its last reply (after a lost UDP packet).",
					"linecount": 5
				}
			},
			{
				"box": {
					"id": "obj-52",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						440.0,
						396.0,
						64.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "generate",
					"presentation": 1,
					"presentation_rect": [
						5.0,
						57.0,
						62.0,
						22.0
					]
				}
			},
			{
				"box": {
					"id": "obj-53",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						510.0,
						396.0,
						68.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "variation",
					"presentation": 1,
					"presentation_rect": [
						71.0,
						57.0,
						66.0,
						22.0
					]
				}
			},
			{
				"box": {
					"id": "obj-54",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						584.0,
						396.0,
						62.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "transfer",
					"presentation": 1,
					"presentation_rect": [
						141.0,
						57.0,
						60.0,
						22.0
					]
				}
			},
			{
				"box": {
					"id": "obj-55",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						652.0,
						396.0,
						56.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "inpaint",
					"presentation": 1,
					"presentation_rect": [
						205.0,
						57.0,
						54.0,
						22.0
					]
				}
			},
			{
				"box": {
					"id": "obj-56",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						714.0,
						396.0,
						68.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "upsample",
					"presentation": 1,
					"presentation_rect": [
						263.0,
						57.0,
						66.0,
						22.0
					]
				}
			},
			{
				"box": {
					"id": "obj-57",
					"maxclass": "newobj",
					"numinlets": 6,
					"numoutlets": 7,
					"patching_rect": [
						440.0,
						430.0,
						420.0,
						22.0
					],
					"outlettype": [
						"",
						"",
						"",
						"",
						"",
						"",
						""
					],
					"text": "route generate variation transfer inpaint upsample continue"
				}
			},
			{
				"box": {
					"id": "obj-58",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						440.0,
						498.0,
						120.0,
						22.0
					],
					"text": "s ---audioldm_go"
				}
			},
			{
				"box": {
					"id": "obj-59",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						440.0,
						464.0,
						24.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "1"
				}
			},
			{
				"box": {
					"id": "obj-60",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						507.0,
						464.0,
						24.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "2"
				}
			},
			{
				"box": {
					"id": "obj-61",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						574.0,
						464.0,
						24.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "3"
				}
			},
			{
				"box": {
					"id": "obj-62",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						640.0,
						464.0,
						24.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "4"
				}
			},
			{
				"box": {
					"id": "obj-63",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						707.0,
						464.0,
						24.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "5"
				}
			},
			{
				"box": {
					"id": "obj-64",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						440.0,
						540.0,
						52.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "cancel",
					"presentation": 1,
					"presentation_rect": [
						5.0,
						83.0,
						52.0,
						22.0
					]
				}
			},
			{
				"box": {
					"id": "obj-65",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						440.0,
						572.0,
						30.0,
						22.0
					],
					"outlettype": [
						"bang"
					],
					"text": "t b"
				}
			},
			{
				"box": {
					"id": "obj-66",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						440.0,
						604.0,
						140.0,
						22.0
					],
					"text": "s ---audioldm_cancel"
				}
			},
			{
				"box": {
					"id": "obj-67",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						620.0,
						540.0,
						70.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "ask again",
					"presentation": 1,
					"presentation_rect": [
						61.0,
						83.0,
						66.0,
						22.0
					]
				}
			},
			{
				"box": {
					"id": "obj-68",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						620.0,
						572.0,
						30.0,
						22.0
					],
					"outlettype": [
						"bang"
					],
					"text": "t b"
				}
			},
			{
				"box": {
					"id": "obj-69",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						620.0,
						604.0,
						120.0,
						22.0
					],
					"text": "s ---audioldm_ask"
				}
			},
			{
				"box": {
					"id": "obj-70",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						15.0,
						648.0,
						300.0,
						20.0
					],
					"text": "4 \u00b7 REQUEST BUILDER",
					"fontface": 1
				}
			},
			{
				"box": {
					"id": "obj-71",
					"maxclass": "newobj",
					"numinlets": 7,
					"numoutlets": 1,
					"patching_rect": [
						15.0,
						672.0,
						300.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "pack 10. 120. 4 50 2.5 42 0"
				}
			},
			{
				"box": {
					"id": "obj-72",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						325.0,
						672.0,
						470.0,
						20.0
					],
					"text": "options: $1 duration $2 bpm $3 bars $4 steps $5 guidance $6 seed $7 loop"
				}
			},
			{
				"box": {
					"id": "obj-73",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 3,
					"patching_rect": [
						15.0,
						704.0,
						300.0,
						22.0
					],
					"outlettype": [
						"",
						"",
						""
					],
					"text": "gate 3"
				}
			},
			{
				"box": {
					"id": "obj-74",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						15.0,
						738.0,
						136.0,
						64.0
					],
					"outlettype": [
						""
					],
					"text": "set duration $1 loop $7 steps $4 guidance $5 seed $6",
					"linecount": 4
				}
			},
			{
				"box": {
					"id": "obj-75",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						158.0,
						738.0,
						136.0,
						64.0
					],
					"outlettype": [
						""
					],
					"text": "set bpm $2 bars $3 loop $7 steps $4 guidance $5 seed $6",
					"linecount": 4
				}
			},
			{
				"box": {
					"id": "obj-76",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						301.0,
						738.0,
						136.0,
						64.0
					],
					"outlettype": [
						""
					],
					"text": "set steps $4 guidance $5 seed $6",
					"linecount": 4
				}
			},
			{
				"box": {
					"id": "obj-77",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						445.0,
						738.0,
						350.0,
						62.0
					],
					"text": "<- 'set ...' stores the options in append: 1 duration (generate, variation), 2 bpm + bars instead of duration, 3 for transfer, inpaint, upsample (the input sets the length)",
					"linecount": 4
				}
			},
			{
				"box": {
					"id": "obj-78",
					"maxclass": "newobj",
					"numinlets": 7,
					"numoutlets": 1,
					"patching_rect": [
						15.0,
						818.0,
						300.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "pack s s s 0.5 0. 0. 4."
				}
			},
			{
				"box": {
					"id": "obj-79",
					"maxclass": "newobj",
					"numinlets": 0,
					"numoutlets": 1,
					"patching_rect": [
						330.0,
						818.0,
						140.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "r ---audioldm_prompt"
				}
			},
			{
				"box": {
					"id": "obj-80",
					"maxclass": "newobj",
					"numinlets": 0,
					"numoutlets": 1,
					"patching_rect": [
						480.0,
						818.0,
						130.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "r ---audioldm_input"
				}
			},
			{
				"box": {
					"id": "obj-81",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						620.0,
						818.0,
						230.0,
						34.0
					],
					"text": "head: $1 job $2 prompt $3 input $4 strength $5 $6 inpaint span $7 continue seconds",
					"linecount": 2
				}
			},
			{
				"box": {
					"id": "obj-82",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 6,
					"patching_rect": [
						15.0,
						854.0,
						600.0,
						22.0
					],
					"outlettype": [
						"",
						"",
						"",
						"",
						"",
						""
					],
					"text": "gate 6"
				}
			},
			{
				"box": {
					"id": "obj-83",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						15.0,
						888.0,
						140.0,
						50.0
					],
					"outlettype": [
						""
					],
					"text": "/audioldm/generate $1 $2",
					"linecount": 3
				}
			},
			{
				"box": {
					"id": "obj-84",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						163.0,
						888.0,
						140.0,
						50.0
					],
					"outlettype": [
						""
					],
					"text": "/audioldm/variation $1 $3",
					"linecount": 3
				}
			},
			{
				"box": {
					"id": "obj-85",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						311.0,
						888.0,
						140.0,
						50.0
					],
					"outlettype": [
						""
					],
					"text": "/audioldm/transfer $1 $3 $2 strength $4",
					"linecount": 3
				}
			},
			{
				"box": {
					"id": "obj-86",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						459.0,
						888.0,
						140.0,
						50.0
					],
					"outlettype": [
						""
					],
					"text": "/audioldm/inpaint $1 $3 $5 $6 $2",
					"linecount": 3
				}
			},
			{
				"box": {
					"id": "obj-87",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						607.0,
						888.0,
						140.0,
						50.0
					],
					"outlettype": [
						""
					],
					"text": "/audioldm/upsample $1 $3 $2",
					"linecount": 3
				}
			},
			{
				"box": {
					"id": "obj-88",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						15.0,
						952.0,
						60.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "append"
				}
			},
			{
				"box": {
					"id": "obj-89",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						15.0,
						984.0,
						120.0,
						22.0
					],
					"text": "s ---audioldm_tx"
				}
			},
			{
				"box": {
					"id": "obj-90",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						90.0,
						952.0,
						700.0,
						20.0
					],
					"text": "head + options, e.g. /audioldm/generate max-4711-1 \"a warm pad\" duration 10. loop 0 steps 50 guidance 2.5 seed 42"
				}
			},
			{
				"box": {
					"id": "obj-91",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						15.0,
						1028.0,
						825.0,
						34.0
					],
					"text": "sequence: [t b b b b i] fires right to left: 1) the button number picks the templates (gate 5 head; gate 3 options via expr), 2) rolls the seed, 3) pulls the prompt, 4) refreshes the options, 5) a new job id fires the head pack.",
					"linecount": 2
				}
			},
			{
				"box": {
					"id": "obj-92",
					"maxclass": "newobj",
					"numinlets": 0,
					"numoutlets": 1,
					"patching_rect": [
						15.0,
						1072.0,
						120.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "r ---audioldm_go"
				}
			},
			{
				"box": {
					"id": "obj-93",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 5,
					"patching_rect": [
						15.0,
						1104.0,
						130.0,
						22.0
					],
					"outlettype": [
						"bang",
						"bang",
						"bang",
						"bang",
						"int"
					],
					"text": "t b b b b i"
				}
			},
			{
				"box": {
					"id": "obj-94",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						160.0,
						1140.0,
						300.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "expr ($i1 <= 2) * (1 + $i2) + ($i1 > 2) * 3"
				}
			},
			{
				"box": {
					"id": "obj-95",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						160.0,
						1072.0,
						50.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "gate 1"
				}
			},
			{
				"box": {
					"id": "obj-96",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						220.0,
						1072.0,
						110.0,
						22.0
					],
					"outlettype": [
						"int"
					],
					"text": "random 1000000"
				}
			},
			{
				"box": {
					"id": "obj-97",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						340.0,
						1072.0,
						160.0,
						22.0
					],
					"text": "s ---audioldm_getprompt"
				}
			},
			{
				"box": {
					"id": "obj-98",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						520.0,
						1072.0,
						30.0,
						22.0
					],
					"outlettype": [
						"int"
					],
					"text": "i"
				}
			},
			{
				"box": {
					"id": "obj-99",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						560.0,
						1072.0,
						34.0,
						22.0
					],
					"outlettype": [
						"int"
					],
					"text": "+ 1"
				}
			},
			{
				"box": {
					"id": "obj-100",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						610.0,
						1072.0,
						64.0,
						22.0
					],
					"outlettype": [
						"bang"
					],
					"text": "loadbang"
				}
			},
			{
				"box": {
					"id": "obj-101",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						610.0,
						1104.0,
						104.0,
						22.0
					],
					"outlettype": [
						"int"
					],
					"text": "random 100000"
				}
			},
			{
				"box": {
					"id": "obj-102",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						520.0,
						1140.0,
						190.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "sprintf symout max-%ld-%ld"
				}
			},
			{
				"box": {
					"id": "obj-103",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 3,
					"patching_rect": [
						520.0,
						1172.0,
						70.0,
						22.0
					],
					"outlettype": [
						"",
						"",
						""
					],
					"text": "t s s s"
				}
			},
			{
				"box": {
					"id": "obj-104",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						720.0,
						1140.0,
						180.0,
						20.0
					],
					"text": "job id, unique per patch load"
				}
			},
			{
				"box": {
					"id": "obj-105",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						340.0,
						1208.0,
						150.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "set /audioldm/job $1"
				}
			},
			{
				"box": {
					"id": "obj-106",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						600.0,
						1208.0,
						160.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "set /audioldm/cancel $1"
				}
			},
			{
				"box": {
					"id": "obj-107",
					"maxclass": "newobj",
					"numinlets": 0,
					"numoutlets": 1,
					"patching_rect": [
						160.0,
						1240.0,
						120.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "r ---audioldm_ask"
				}
			},
			{
				"box": {
					"id": "obj-108",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						340.0,
						1240.0,
						200.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "/audioldm/job"
				}
			},
			{
				"box": {
					"id": "obj-109",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						600.0,
						1240.0,
						200.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "/audioldm/cancel"
				}
			},
			{
				"box": {
					"id": "obj-110",
					"maxclass": "newobj",
					"numinlets": 0,
					"numoutlets": 1,
					"patching_rect": [
						810.0,
						1208.0,
						140.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "r ---audioldm_cancel"
				}
			},
			{
				"box": {
					"id": "obj-111",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						340.0,
						1276.0,
						120.0,
						22.0
					],
					"text": "s ---audioldm_tx"
				}
			},
			{
				"box": {
					"id": "obj-112",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						15.0,
						1276.0,
						110.0,
						20.0
					],
					"text": "latest job id ->"
				}
			},
			{
				"box": {
					"id": "obj-113",
					"maxclass": "newobj",
					"numinlets": 0,
					"numoutlets": 1,
					"patching_rect": [
						15.0,
						1208.0,
						130.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "r ---audioldm_recall"
				}
			},
			{
				"box": {
					"id": "obj-114",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						15.0,
						1240.0,
						50.0,
						22.0
					],
					"outlettype": [
						"int",
						"bang"
					],
					"text": "t i b"
				}
			},
			{
				"box": {
					"id": "obj-115",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						80.0,
						1240.0,
						24.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "0"
				}
			},
			{
				"box": {
					"id": "obj-116",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						960.0,
						92.0,
						300.0,
						20.0
					],
					"text": "5 \u00b7 ENGINE CONNECTION",
					"fontface": 1
				}
			},
			{
				"box": {
					"id": "obj-117",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						960.0,
						114.0,
						700.0,
						48.0
					],
					"text": "On load the patch registers its reply port (/audioldm/notify 9001) and pings the engine; click notify again after restarting the engine. /audioldm/stop ends an audition; /audioldm/devices lists the engine's output devices in the Max console. Every request is echoed to the Max console.",
					"linecount": 3
				}
			},
			{
				"box": {
					"id": "obj-118",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						960.0,
						170.0,
						64.0,
						22.0
					],
					"outlettype": [
						"bang"
					],
					"text": "loadbang"
				}
			},
			{
				"box": {
					"id": "obj-119",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						960.0,
						200.0,
						40.0,
						22.0
					],
					"outlettype": [
						"bang",
						"bang"
					],
					"text": "t b b"
				}
			},
			{
				"box": {
					"id": "obj-120",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						960.0,
						236.0,
						100.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "/audioldm/ping"
				}
			},
			{
				"box": {
					"id": "obj-121",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1070.0,
						236.0,
						140.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "/audioldm/notify 9001",
					"presentation": 1,
					"presentation_rect": [
						965.0,
						131.0,
						140.0,
						22.0
					]
				}
			},
			{
				"box": {
					"id": "obj-122",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1220.0,
						236.0,
						110.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "/audioldm/status"
				}
			},
			{
				"box": {
					"id": "obj-123",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1340.0,
						236.0,
						115.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "/audioldm/devices"
				}
			},
			{
				"box": {
					"id": "obj-124",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1465.0,
						236.0,
						95.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "/audioldm/stop",
					"presentation": 1,
					"presentation_rect": [
						860.0,
						131.0,
						96.0,
						22.0
					]
				}
			},
			{
				"box": {
					"id": "obj-125",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						960.0,
						272.0,
						120.0,
						22.0
					],
					"text": "s ---audioldm_tx"
				}
			},
			{
				"box": {
					"id": "obj-126",
					"maxclass": "newobj",
					"numinlets": 0,
					"numoutlets": 1,
					"patching_rect": [
						960.0,
						312.0,
						120.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "r ---audioldm_tx"
				}
			},
			{
				"box": {
					"id": "obj-127",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						960.0,
						344.0,
						150.0,
						22.0
					],
					"text": "udpsend 127.0.0.1 9000"
				}
			},
			{
				"box": {
					"id": "obj-128",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1130.0,
						344.0,
						130.0,
						22.0
					],
					"text": "print audioldm-send"
				}
			},
			{
				"box": {
					"id": "obj-129",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1270.0,
						344.0,
						330.0,
						20.0
					],
					"text": "audioldm  \u00b7  engine 127.0.0.1:9000  \u00b7  replies on 9001",
					"presentation": 1,
					"presentation_rect": [
						5.0,
						135.0,
						315.0,
						20.0
					]
				}
			},
			{
				"box": {
					"id": "obj-130",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						960.0,
						392.0,
						300.0,
						20.0
					],
					"text": "6 \u00b7 REPLIES",
					"fontface": 1
				}
			},
			{
				"box": {
					"id": "obj-131",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						960.0,
						414.0,
						700.0,
						34.0
					],
					"text": "udpreceive 9001 -> deferlow (UI-safe, needed in Max for Live) -> route by OSC address (routes chained through their right outlets). The status line shows the latest reply, the bar shows step / total.",
					"linecount": 2
				}
			},
			{
				"box": {
					"id": "obj-132",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						960.0,
						456.0,
						110.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "udpreceive 9001"
				}
			},
			{
				"box": {
					"id": "obj-133",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						960.0,
						488.0,
						64.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "deferlow"
				}
			},
			{
				"box": {
					"id": "obj-134",
					"maxclass": "newobj",
					"numinlets": 4,
					"numoutlets": 4,
					"patching_rect": [
						960.0,
						520.0,
						700.0,
						22.0
					],
					"outlettype": [
						"",
						"",
						"",
						""
					],
					"text": "route /audioldm/queued /audioldm/progress /audioldm/done"
				}
			},
			{
				"box": {
					"id": "obj-135",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						960.0,
						1000.0,
						50.0,
						20.0
					],
					"text": "status:"
				}
			},
			{
				"box": {
					"id": "obj-136",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1015.0,
						1000.0,
						645.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "waiting for the engine ...",
					"presentation": 1,
					"presentation_rect": [
						5.0,
						109.0,
						315.0,
						22.0
					]
				}
			},
			{
				"box": {
					"id": "obj-137",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						960.0,
						1030.0,
						62.0,
						20.0
					],
					"text": "progress:"
				}
			},
			{
				"box": {
					"id": "obj-138",
					"maxclass": "slider",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						1030.0,
						1032.0,
						300.0,
						18.0
					],
					"outlettype": [
						""
					],
					"presentation": 1,
					"presentation_rect": [
						131.0,
						86.0,
						189.0,
						18.0
					],
					"size": 101.0,
					"orientation": 1,
					"ignoreclick": 1,
					"parameter_enable": 0
				}
			},
			{
				"box": {
					"id": "obj-139",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1340.0,
						1030.0,
						60.0,
						20.0
					],
					"text": "0-100 %"
				}
			},
			{
				"box": {
					"id": "obj-140",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						960.0,
						560.0,
						190.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "set $1 queued at position $2"
				}
			},
			{
				"box": {
					"id": "obj-141",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						960.0,
						592.0,
						24.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "0"
				}
			},
			{
				"box": {
					"id": "obj-142",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 3,
					"patching_rect": [
						1192.0,
						560.0,
						90.0,
						22.0
					],
					"outlettype": [
						"",
						"int",
						"int"
					],
					"text": "unpack s 0 0"
				}
			},
			{
				"box": {
					"id": "obj-143",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1192.0,
						592.0,
						220.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "expr $i1 * 100 / ($i2 + ($i2 == 0))"
				}
			},
			{
				"box": {
					"id": "obj-144",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1192.0,
						624.0,
						140.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "set $1 step $2 of $3"
				}
			},
			{
				"box": {
					"id": "obj-145",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1425.0,
						560.0,
						210.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "set $1 done $3 s $4 Hz seed $5"
				}
			},
			{
				"box": {
					"id": "obj-146",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1425.0,
						592.0,
						80.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "replace $2"
				}
			},
			{
				"box": {
					"id": "obj-147",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1515.0,
						592.0,
						50.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "set $2"
				}
			},
			{
				"box": {
					"id": "obj-148",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1575.0,
						592.0,
						36.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "100"
				}
			},
			{
				"box": {
					"id": "obj-149",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1425.0,
						624.0,
						150.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "set /audioldm/play $1"
				}
			},
			{
				"box": {
					"id": "obj-150",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1585.0,
						624.0,
						30.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "$5"
				}
			},
			{
				"box": {
					"id": "obj-151",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1425.0,
						656.0,
						130.0,
						22.0
					],
					"text": "s ---audioldm_clip"
				}
			},
			{
				"box": {
					"id": "obj-152",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1425.0,
						684.0,
						150.0,
						22.0
					],
					"text": "s ---audioldm_lastpath"
				}
			},
			{
				"box": {
					"id": "obj-153",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1425.0,
						712.0,
						150.0,
						22.0
					],
					"text": "s ---audioldm_playset"
				}
			},
			{
				"box": {
					"id": "obj-154",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1585.0,
						656.0,
						150.0,
						22.0
					],
					"text": "s ---audioldm_lastseed"
				}
			},
			{
				"box": {
					"id": "obj-155",
					"maxclass": "newobj",
					"numinlets": 5,
					"numoutlets": 5,
					"patching_rect": [
						960.0,
						760.0,
						700.0,
						22.0
					],
					"outlettype": [
						"",
						"",
						"",
						"",
						""
					],
					"text": "route /audioldm/fail /audioldm/cancelled /audioldm/pong /audioldm/notified"
				}
			},
			{
				"box": {
					"id": "obj-156",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						960.0,
						800.0,
						130.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "set $1 FAILED: $2"
				}
			},
			{
				"box": {
					"id": "obj-157",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1100.0,
						800.0,
						24.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "0"
				}
			},
			{
				"box": {
					"id": "obj-158",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1140.0,
						800.0,
						120.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "set $1 cancelled"
				}
			},
			{
				"box": {
					"id": "obj-159",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1270.0,
						800.0,
						24.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "0"
				}
			},
			{
				"box": {
					"id": "obj-160",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1310.0,
						800.0,
						160.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "set engine $1 model $2"
				}
			},
			{
				"box": {
					"id": "obj-161",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1480.0,
						800.0,
						180.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "set replies come to port $1"
				}
			},
			{
				"box": {
					"id": "obj-162",
					"maxclass": "newobj",
					"numinlets": 5,
					"numoutlets": 5,
					"patching_rect": [
						960.0,
						850.0,
						700.0,
						22.0
					],
					"outlettype": [
						"",
						"",
						"",
						"",
						""
					],
					"text": "route /audioldm/playing /audioldm/status /audioldm/device /audioldm/devices_end"
				}
			},
			{
				"box": {
					"id": "obj-163",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						960.0,
						890.0,
						130.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "set auditioning $1"
				}
			},
			{
				"box": {
					"id": "obj-164",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1135.0,
						890.0,
						310.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "set model $1 on $2 queued $3 running $4 clips $5"
				}
			},
			{
				"box": {
					"id": "obj-165",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1310.0,
						926.0,
						140.0,
						22.0
					],
					"text": "print audioldm-device"
				}
			},
			{
				"box": {
					"id": "obj-166",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1460.0,
						890.0,
						200.0,
						36.0
					],
					"outlettype": [
						""
					],
					"text": "set devices listed in the Max console",
					"linecount": 2
				}
			},
			{
				"box": {
					"id": "obj-167",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1520.0,
						946.0,
						140.0,
						22.0
					],
					"text": "print audioldm-other"
				}
			},
			{
				"box": {
					"id": "obj-168",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1760.0,
						92.0,
						300.0,
						20.0
					],
					"text": "7 \u00b7 CLIP  (buffer~ audioldm_clip)",
					"fontface": 1
				}
			},
			{
				"box": {
					"id": "obj-169",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1760.0,
						114.0,
						450.0,
						62.0
					],
					"text": "/audioldm/done loads the file with 'replace PATH'. play / stop: playback in Max (audio on: click the speaker). audition: the engine plays the clip on its own output device (/audioldm/play job_id). The file stays in the engine's clips folder: take it from there into the DAW (path in section 8).",
					"linecount": 4
				}
			},
			{
				"box": {
					"id": "obj-170",
					"maxclass": "newobj",
					"numinlets": 0,
					"numoutlets": 1,
					"patching_rect": [
						1760.0,
						184.0,
						130.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "r ---audioldm_clip"
				}
			},
			{
				"box": {
					"id": "obj-171",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						1760.0,
						216.0,
						150.0,
						22.0
					],
					"outlettype": [
						"float",
						"bang"
					],
					"text": "buffer~ audioldm_clip"
				}
			},
			{
				"box": {
					"id": "obj-172",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1760.0,
						248.0,
						120.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "set audioldm_clip"
				}
			},
			{
				"box": {
					"id": "obj-173",
					"maxclass": "waveform~",
					"numinlets": 5,
					"numoutlets": 6,
					"patching_rect": [
						1760.0,
						280.0,
						450.0,
						110.0
					],
					"outlettype": [
						"float",
						"float",
						"float",
						"float",
						"list",
						""
					],
					"presentation": 1,
					"presentation_rect": [
						580.0,
						5.0,
						260.0,
						96.0
					],
					"buffername": "audioldm_clip"
				}
			},
			{
				"box": {
					"id": "obj-174",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1760.0,
						404.0,
						40.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "play",
					"presentation": 1,
					"presentation_rect": [
						580.0,
						105.0,
						38.0,
						22.0
					]
				}
			},
			{
				"box": {
					"id": "obj-175",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1810.0,
						404.0,
						40.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "stop",
					"presentation": 1,
					"presentation_rect": [
						622.0,
						105.0,
						38.0,
						22.0
					]
				}
			},
			{
				"box": {
					"id": "obj-176",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1860.0,
						404.0,
						64.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "audition",
					"presentation": 1,
					"presentation_rect": [
						664.0,
						105.0,
						62.0,
						22.0
					]
				}
			},
			{
				"box": {
					"id": "obj-177",
					"maxclass": "toggle",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						1940.0,
						403.0,
						24.0,
						24.0
					],
					"outlettype": [
						"int"
					],
					"presentation": 1,
					"presentation_rect": [
						730.0,
						106.0,
						20.0,
						20.0
					],
					"parameter_enable": 0
				}
			},
			{
				"box": {
					"id": "obj-178",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1968.0,
						404.0,
						70.0,
						20.0
					],
					"text": "loop play",
					"presentation": 1,
					"presentation_rect": [
						752.0,
						105.0,
						56.0,
						20.0
					]
				}
			},
			{
				"box": {
					"id": "obj-179",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						1760.0,
						436.0,
						40.0,
						22.0
					],
					"outlettype": [
						"bang",
						"bang"
					],
					"text": "t b b"
				}
			},
			{
				"box": {
					"id": "obj-180",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						1810.0,
						436.0,
						30.0,
						22.0
					],
					"outlettype": [
						"bang"
					],
					"text": "t b"
				}
			},
			{
				"box": {
					"id": "obj-181",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						1860.0,
						436.0,
						30.0,
						22.0
					],
					"outlettype": [
						"bang"
					],
					"text": "t b"
				}
			},
			{
				"box": {
					"id": "obj-182",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1940.0,
						436.0,
						56.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "loop $1"
				}
			},
			{
				"box": {
					"id": "obj-183",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1760.0,
						468.0,
						24.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "0"
				}
			},
			{
				"box": {
					"id": "obj-184",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1790.0,
						468.0,
						24.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "1"
				}
			},
			{
				"box": {
					"id": "obj-185",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1820.0,
						468.0,
						24.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "0"
				}
			},
			{
				"box": {
					"id": "obj-186",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						1790.0,
						500.0,
						40.0,
						22.0
					],
					"outlettype": [
						"signal"
					],
					"text": "sig~"
				}
			},
			{
				"box": {
					"id": "obj-187",
					"maxclass": "newobj",
					"numinlets": 3,
					"numoutlets": 2,
					"patching_rect": [
						1760.0,
						532.0,
						160.0,
						22.0
					],
					"outlettype": [
						"signal",
						"signal"
					],
					"text": "groove~ audioldm_clip 1"
				}
			},
			{
				"box": {
					"id": "obj-188",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1930.0,
						468.0,
						250.0,
						20.0
					],
					"text": "play: jump to 0 ms, speed 1; stop: speed 0"
				}
			},
			{
				"box": {
					"id": "obj-189",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1760.0,
						564.0,
						50.0,
						22.0
					],
					"outlettype": [
						"signal"
					],
					"text": "*~ 0.8"
				}
			},
			{
				"box": {
					"id": "obj-190",
					"maxclass": "ezdac~",
					"numinlets": 2,
					"numoutlets": 0,
					"patching_rect": [
						1760.0,
						596.0,
						45.0,
						45.0
					],
					"presentation": 1,
					"presentation_rect": [
						810.0,
						103.0,
						30.0,
						30.0
					]
				}
			},
			{
				"box": {
					"id": "obj-191",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 2,
					"patching_rect": [
						1860.0,
						564.0,
						56.0,
						22.0
					],
					"outlettype": [
						"signal",
						"signal"
					],
					"text": "plugin~"
				}
			},
			{
				"box": {
					"id": "obj-192",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 2,
					"patching_rect": [
						1860.0,
						610.0,
						60.0,
						22.0
					],
					"outlettype": [
						"signal",
						"signal"
					],
					"text": "plugout~"
				}
			},
			{
				"box": {
					"id": "obj-193",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1930.0,
						564.0,
						280.0,
						48.0
					],
					"text": "plugin~ -> plugout~: in a Max Audio Effect the track passes through and the clip plays into it; in plain Max they do nothing",
					"linecount": 3
				}
			},
			{
				"box": {
					"id": "obj-194",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1860.0,
						660.0,
						200.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "/audioldm/play"
				}
			},
			{
				"box": {
					"id": "obj-195",
					"maxclass": "newobj",
					"numinlets": 0,
					"numoutlets": 1,
					"patching_rect": [
						2070.0,
						628.0,
						150.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "r ---audioldm_playset"
				}
			},
			{
				"box": {
					"id": "obj-196",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1860.0,
						692.0,
						120.0,
						22.0
					],
					"text": "s ---audioldm_tx"
				}
			},
			{
				"box": {
					"id": "obj-197",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1760.0,
						730.0,
						66.0,
						20.0
					],
					"text": "last seed:",
					"presentation": 1,
					"presentation_rect": [
						580.0,
						131.0,
						62.0,
						20.0
					]
				}
			},
			{
				"box": {
					"id": "obj-198",
					"maxclass": "newobj",
					"numinlets": 0,
					"numoutlets": 1,
					"patching_rect": [
						2070.0,
						700.0,
						150.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "r ---audioldm_lastseed"
				}
			},
			{
				"box": {
					"id": "obj-199",
					"maxclass": "number",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						1830.0,
						730.0,
						90.0,
						22.0
					],
					"outlettype": [
						"",
						"bang"
					],
					"presentation": 1,
					"presentation_rect": [
						644.0,
						131.0,
						76.0,
						22.0
					],
					"parameter_enable": 0
				}
			},
			{
				"box": {
					"id": "obj-200",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1930.0,
						730.0,
						80.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "recall seed",
					"presentation": 1,
					"presentation_rect": [
						724.0,
						131.0,
						80.0,
						22.0
					]
				}
			},
			{
				"box": {
					"id": "obj-201",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						1930.0,
						762.0,
						30.0,
						22.0
					],
					"outlettype": [
						"bang"
					],
					"text": "t b"
				}
			},
			{
				"box": {
					"id": "obj-202",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1830.0,
						794.0,
						30.0,
						22.0
					],
					"outlettype": [
						"int"
					],
					"text": "i"
				}
			},
			{
				"box": {
					"id": "obj-203",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1830.0,
						826.0,
						130.0,
						22.0
					],
					"text": "s ---audioldm_recall"
				}
			},
			{
				"box": {
					"id": "obj-204",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						2020.0,
						730.0,
						190.0,
						34.0
					],
					"text": "recall: copy it to 'seed' and untick 'new seed each'",
					"linecount": 2
				}
			},
			{
				"box": {
					"id": "obj-205",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1760.0,
						880.0,
						400.0,
						20.0
					],
					"text": "8 \u00b7 INPUT FILE  (variation / transfer / inpaint / upsample)",
					"fontface": 1
				}
			},
			{
				"box": {
					"id": "obj-206",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1760.0,
						902.0,
						450.0,
						34.0
					],
					"text": "Drop an audio file on the area below, or reuse the last clip. The Max path is converted to a native one for the engine.",
					"linecount": 2
				}
			},
			{
				"box": {
					"id": "obj-207",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1760.0,
						938.0,
						200.0,
						20.0
					],
					"text": "drop an audio file here:",
					"presentation": 1,
					"presentation_rect": [
						850.0,
						3.0,
						220.0,
						20.0
					]
				}
			},
			{
				"box": {
					"id": "obj-208",
					"maxclass": "dropfile",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						1760.0,
						960.0,
						450.0,
						60.0
					],
					"outlettype": [
						"",
						""
					],
					"presentation": 1,
					"presentation_rect": [
						850.0,
						25.0,
						220.0,
						50.0
					]
				}
			},
			{
				"box": {
					"id": "obj-209",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						1760.0,
						1030.0,
						160.0,
						22.0
					],
					"outlettype": [
						"",
						"int"
					],
					"text": "conformpath native boot"
				}
			},
			{
				"box": {
					"id": "obj-210",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						1760.0,
						1062.0,
						64.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "tosymbol"
				}
			},
			{
				"box": {
					"id": "obj-211",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						1760.0,
						1094.0,
						40.0,
						22.0
					],
					"outlettype": [
						"",
						""
					],
					"text": "t s s"
				}
			},
			{
				"box": {
					"id": "obj-212",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1760.0,
						1126.0,
						130.0,
						22.0
					],
					"text": "s ---audioldm_input"
				}
			},
			{
				"box": {
					"id": "obj-213",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1910.0,
						1126.0,
						50.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "set $1"
				}
			},
			{
				"box": {
					"id": "obj-214",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1760.0,
						1158.0,
						44.0,
						20.0
					],
					"text": "input:"
				}
			},
			{
				"box": {
					"id": "obj-215",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1810.0,
						1158.0,
						400.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "(none yet)",
					"presentation": 1,
					"presentation_rect": [
						850.0,
						79.0,
						220.0,
						22.0
					]
				}
			},
			{
				"box": {
					"id": "obj-216",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1760.0,
						1190.0,
						64.0,
						20.0
					],
					"text": "last clip:",
					"presentation": 1,
					"presentation_rect": [
						850.0,
						105.0,
						60.0,
						20.0
					]
				}
			},
			{
				"box": {
					"id": "obj-217",
					"maxclass": "newobj",
					"numinlets": 0,
					"numoutlets": 1,
					"patching_rect": [
						2070.0,
						1030.0,
						150.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "r ---audioldm_lastpath"
				}
			},
			{
				"box": {
					"id": "obj-218",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1830.0,
						1190.0,
						380.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "(none yet)",
					"presentation": 1,
					"presentation_rect": [
						912.0,
						105.0,
						158.0,
						22.0
					]
				}
			},
			{
				"box": {
					"id": "obj-219",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1960.0,
						1062.0,
						140.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "use last clip as input",
					"presentation": 1,
					"presentation_rect": [
						1074.0,
						105.0,
						130.0,
						22.0
					]
				}
			},
			{
				"box": {
					"id": "obj-220",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						2110.0,
						1062.0,
						30.0,
						22.0
					],
					"outlettype": [
						"bang"
					],
					"text": "t b"
				}
			},
			{
				"box": {
					"id": "obj-221",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						880.0,
						396.0,
						64.0,
						22.0
					],
					"text": "continue",
					"presentation": 1,
					"presentation_rect": [
						452.0,
						149.0,
						66.0,
						22.0
					]
				}
			},
			{
				"box": {
					"id": "obj-222",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						800.0,
						464.0,
						24.0,
						22.0
					],
					"text": "6"
				}
			},
			{
				"box": {
					"id": "obj-223",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						960.0,
						396.0,
						120.0,
						20.0
					],
					"text": "continue: extend (s)"
				}
			},
			{
				"box": {
					"id": "obj-224",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						960.0,
						420.0,
						90.0,
						22.0
					],
					"text": "loadmess 4."
				}
			},
			{
				"box": {
					"id": "obj-225",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [
						"",
						"bang"
					],
					"patching_rect": [
						960.0,
						446.0,
						60.0,
						22.0
					],
					"presentation": 1,
					"presentation_rect": [
						530.0,
						149.0,
						42.0,
						22.0
					],
					"parameter_enable": 0,
					"minimum": 0.5,
					"maximum": 60.0
				}
			},
			{
				"box": {
					"id": "obj-226",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						755.0,
						888.0,
						140.0,
						50.0
					],
					"text": "/audioldm/continue $1 $3 $7 $2",
					"linecount": 3
				}
			},
			{
				"box": {
					"id": "obj-227",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 3,
					"patching_rect": [
						1700.0,
						850.0,
						280.0,
						22.0
					],
					"outlettype": [
						"",
						"",
						""
					],
					"text": "route /audioldm/model /audioldm/models_end"
				}
			},
			{
				"box": {
					"id": "obj-228",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1700.0,
						890.0,
						70.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "append $6"
				}
			},
			{
				"box": {
					"id": "obj-229",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1700.0,
						236.0,
						110.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "/audioldm/models",
					"presentation": 1,
					"presentation_rect": [
						5.0,
						175.0,
						110.0,
						22.0
					]
				}
			},
			{
				"box": {
					"id": "obj-230",
					"maxclass": "umenu",
					"numinlets": 1,
					"numoutlets": 3,
					"patching_rect": [
						1700.0,
						930.0,
						260.0,
						22.0
					],
					"outlettype": [
						"int",
						"",
						""
					],
					"parameter_enable": 0,
					"presentation": 1,
					"presentation_rect": [
						119.0,
						175.0,
						200.0,
						22.0
					]
				}
			},
			{
				"box": {
					"id": "obj-231",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						1700.0,
						266.0,
						40.0,
						22.0
					],
					"outlettype": [
						"",
						""
					],
					"text": "t a b"
				}
			},
			{
				"box": {
					"id": "obj-232",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1760.0,
						296.0,
						40.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "clear"
				}
			},
			{
				"box": {
					"id": "obj-233",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						1700.0,
						970.0,
						420.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "prepend set restart the engine to use it: audioldm-daw serve --model"
				}
			},
			{
				"box": {
					"id": "obj-234",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1700.0,
						1010.0,
						500.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "",
					"presentation": 1,
					"presentation_rect": [
						323.0,
						175.0,
						500.0,
						22.0
					]
				}
			},
			{
				"box": {
					"id": "obj-235",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1800.0,
						890.0,
						400.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "set pick a model: the engine serves the one it was started with"
				}
			},
			{
				"box": {
					"id": "obj-236",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1700.0,
						196.0,
						500.0,
						34.0
					],
					"linecount": 2,
					"text": "MODELS: /audioldm/models fills the menu with the engine's models (each item is what serve --model takes). The engine serves one model: picking another shows the command that restarts it with that one."
				}
			}
		],
		"lines": [
			{
				"patchline": {
					"source": [
						"obj-4",
						0
					],
					"destination": [
						"obj-6",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-6",
						0
					],
					"destination": [
						"obj-7",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-7",
						0
					],
					"destination": [
						"obj-9",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-7",
						1
					],
					"destination": [
						"obj-9",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-9",
						0
					],
					"destination": [
						"obj-11",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-15",
						0
					],
					"destination": [
						"obj-16",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-18",
						0
					],
					"destination": [
						"obj-19",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-21",
						0
					],
					"destination": [
						"obj-22",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-24",
						0
					],
					"destination": [
						"obj-25",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-27",
						0
					],
					"destination": [
						"obj-28",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-30",
						0
					],
					"destination": [
						"obj-31",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-33",
						0
					],
					"destination": [
						"obj-34",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-36",
						0
					],
					"destination": [
						"obj-37",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-39",
						0
					],
					"destination": [
						"obj-40",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-42",
						0
					],
					"destination": [
						"obj-43",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-45",
						0
					],
					"destination": [
						"obj-46",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-48",
						0
					],
					"destination": [
						"obj-49",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-52",
						0
					],
					"destination": [
						"obj-57",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-57",
						0
					],
					"destination": [
						"obj-59",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-59",
						0
					],
					"destination": [
						"obj-58",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-53",
						0
					],
					"destination": [
						"obj-57",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-57",
						1
					],
					"destination": [
						"obj-60",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-60",
						0
					],
					"destination": [
						"obj-58",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-54",
						0
					],
					"destination": [
						"obj-57",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-57",
						2
					],
					"destination": [
						"obj-61",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-61",
						0
					],
					"destination": [
						"obj-58",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-55",
						0
					],
					"destination": [
						"obj-57",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-57",
						3
					],
					"destination": [
						"obj-62",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-62",
						0
					],
					"destination": [
						"obj-58",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-56",
						0
					],
					"destination": [
						"obj-57",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-57",
						4
					],
					"destination": [
						"obj-63",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-63",
						0
					],
					"destination": [
						"obj-58",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-64",
						0
					],
					"destination": [
						"obj-65",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-65",
						0
					],
					"destination": [
						"obj-66",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-67",
						0
					],
					"destination": [
						"obj-68",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-68",
						0
					],
					"destination": [
						"obj-69",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-16",
						0
					],
					"destination": [
						"obj-71",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-19",
						0
					],
					"destination": [
						"obj-71",
						1
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-22",
						0
					],
					"destination": [
						"obj-71",
						2
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-28",
						0
					],
					"destination": [
						"obj-71",
						3
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-31",
						0
					],
					"destination": [
						"obj-71",
						4
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-40",
						0
					],
					"destination": [
						"obj-71",
						5
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-46",
						0
					],
					"destination": [
						"obj-71",
						6
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-71",
						0
					],
					"destination": [
						"obj-73",
						1
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-73",
						0
					],
					"destination": [
						"obj-74",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-73",
						1
					],
					"destination": [
						"obj-75",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-73",
						2
					],
					"destination": [
						"obj-76",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-79",
						0
					],
					"destination": [
						"obj-78",
						1
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-80",
						0
					],
					"destination": [
						"obj-78",
						2
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-49",
						0
					],
					"destination": [
						"obj-78",
						3
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-34",
						0
					],
					"destination": [
						"obj-78",
						4
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-37",
						0
					],
					"destination": [
						"obj-78",
						5
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-78",
						0
					],
					"destination": [
						"obj-82",
						1
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-82",
						0
					],
					"destination": [
						"obj-83",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-82",
						1
					],
					"destination": [
						"obj-84",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-82",
						2
					],
					"destination": [
						"obj-85",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-82",
						3
					],
					"destination": [
						"obj-86",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-82",
						4
					],
					"destination": [
						"obj-87",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-74",
						0
					],
					"destination": [
						"obj-88",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-75",
						0
					],
					"destination": [
						"obj-88",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-76",
						0
					],
					"destination": [
						"obj-88",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-83",
						0
					],
					"destination": [
						"obj-88",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-84",
						0
					],
					"destination": [
						"obj-88",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-85",
						0
					],
					"destination": [
						"obj-88",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-86",
						0
					],
					"destination": [
						"obj-88",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-87",
						0
					],
					"destination": [
						"obj-88",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-88",
						0
					],
					"destination": [
						"obj-89",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-92",
						0
					],
					"destination": [
						"obj-93",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-93",
						4
					],
					"destination": [
						"obj-94",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-25",
						0
					],
					"destination": [
						"obj-94",
						1
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-94",
						0
					],
					"destination": [
						"obj-73",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-93",
						4
					],
					"destination": [
						"obj-82",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-43",
						0
					],
					"destination": [
						"obj-95",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-93",
						3
					],
					"destination": [
						"obj-95",
						1
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-95",
						0
					],
					"destination": [
						"obj-96",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-96",
						0
					],
					"destination": [
						"obj-40",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-93",
						2
					],
					"destination": [
						"obj-97",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-93",
						1
					],
					"destination": [
						"obj-71",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-93",
						0
					],
					"destination": [
						"obj-98",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-98",
						0
					],
					"destination": [
						"obj-99",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-99",
						0
					],
					"destination": [
						"obj-98",
						1
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-99",
						0
					],
					"destination": [
						"obj-102",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-100",
						0
					],
					"destination": [
						"obj-101",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-101",
						0
					],
					"destination": [
						"obj-102",
						1
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-102",
						0
					],
					"destination": [
						"obj-103",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-103",
						0
					],
					"destination": [
						"obj-78",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-103",
						2
					],
					"destination": [
						"obj-106",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-106",
						0
					],
					"destination": [
						"obj-109",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-103",
						1
					],
					"destination": [
						"obj-105",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-105",
						0
					],
					"destination": [
						"obj-108",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-110",
						0
					],
					"destination": [
						"obj-109",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-107",
						0
					],
					"destination": [
						"obj-108",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-109",
						0
					],
					"destination": [
						"obj-111",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-108",
						0
					],
					"destination": [
						"obj-111",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-113",
						0
					],
					"destination": [
						"obj-114",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-114",
						1
					],
					"destination": [
						"obj-115",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-115",
						0
					],
					"destination": [
						"obj-43",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-114",
						0
					],
					"destination": [
						"obj-40",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-118",
						0
					],
					"destination": [
						"obj-119",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-119",
						1
					],
					"destination": [
						"obj-121",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-119",
						0
					],
					"destination": [
						"obj-120",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-120",
						0
					],
					"destination": [
						"obj-125",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-121",
						0
					],
					"destination": [
						"obj-125",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-122",
						0
					],
					"destination": [
						"obj-125",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-123",
						0
					],
					"destination": [
						"obj-125",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-124",
						0
					],
					"destination": [
						"obj-125",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-126",
						0
					],
					"destination": [
						"obj-127",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-126",
						0
					],
					"destination": [
						"obj-128",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-132",
						0
					],
					"destination": [
						"obj-133",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-133",
						0
					],
					"destination": [
						"obj-134",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-134",
						0
					],
					"destination": [
						"obj-140",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-134",
						0
					],
					"destination": [
						"obj-141",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-140",
						0
					],
					"destination": [
						"obj-136",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-141",
						0
					],
					"destination": [
						"obj-138",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-134",
						1
					],
					"destination": [
						"obj-142",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-142",
						1
					],
					"destination": [
						"obj-143",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-142",
						2
					],
					"destination": [
						"obj-143",
						1
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-143",
						0
					],
					"destination": [
						"obj-138",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-134",
						1
					],
					"destination": [
						"obj-144",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-144",
						0
					],
					"destination": [
						"obj-136",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-134",
						2
					],
					"destination": [
						"obj-145",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-134",
						2
					],
					"destination": [
						"obj-146",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-134",
						2
					],
					"destination": [
						"obj-147",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-134",
						2
					],
					"destination": [
						"obj-148",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-134",
						2
					],
					"destination": [
						"obj-149",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-134",
						2
					],
					"destination": [
						"obj-150",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-145",
						0
					],
					"destination": [
						"obj-136",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-148",
						0
					],
					"destination": [
						"obj-138",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-146",
						0
					],
					"destination": [
						"obj-151",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-147",
						0
					],
					"destination": [
						"obj-152",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-149",
						0
					],
					"destination": [
						"obj-153",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-150",
						0
					],
					"destination": [
						"obj-154",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-134",
						3
					],
					"destination": [
						"obj-155",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-155",
						0
					],
					"destination": [
						"obj-156",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-155",
						0
					],
					"destination": [
						"obj-157",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-155",
						1
					],
					"destination": [
						"obj-158",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-155",
						1
					],
					"destination": [
						"obj-159",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-155",
						2
					],
					"destination": [
						"obj-160",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-155",
						3
					],
					"destination": [
						"obj-161",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-156",
						0
					],
					"destination": [
						"obj-136",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-158",
						0
					],
					"destination": [
						"obj-136",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-160",
						0
					],
					"destination": [
						"obj-136",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-161",
						0
					],
					"destination": [
						"obj-136",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-157",
						0
					],
					"destination": [
						"obj-138",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-159",
						0
					],
					"destination": [
						"obj-138",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-155",
						4
					],
					"destination": [
						"obj-162",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-162",
						0
					],
					"destination": [
						"obj-163",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-162",
						1
					],
					"destination": [
						"obj-164",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-162",
						2
					],
					"destination": [
						"obj-165",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-162",
						3
					],
					"destination": [
						"obj-166",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-162",
						4
					],
					"destination": [
						"obj-227",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-163",
						0
					],
					"destination": [
						"obj-136",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-164",
						0
					],
					"destination": [
						"obj-136",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-166",
						0
					],
					"destination": [
						"obj-136",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-170",
						0
					],
					"destination": [
						"obj-171",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-171",
						1
					],
					"destination": [
						"obj-172",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-172",
						0
					],
					"destination": [
						"obj-173",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-174",
						0
					],
					"destination": [
						"obj-179",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-175",
						0
					],
					"destination": [
						"obj-180",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-176",
						0
					],
					"destination": [
						"obj-181",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-177",
						0
					],
					"destination": [
						"obj-182",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-179",
						1
					],
					"destination": [
						"obj-183",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-179",
						0
					],
					"destination": [
						"obj-184",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-180",
						0
					],
					"destination": [
						"obj-185",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-184",
						0
					],
					"destination": [
						"obj-186",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-185",
						0
					],
					"destination": [
						"obj-186",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-186",
						0
					],
					"destination": [
						"obj-187",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-183",
						0
					],
					"destination": [
						"obj-187",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-182",
						0
					],
					"destination": [
						"obj-187",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-187",
						0
					],
					"destination": [
						"obj-189",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-189",
						0
					],
					"destination": [
						"obj-190",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-189",
						0
					],
					"destination": [
						"obj-190",
						1
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-191",
						0
					],
					"destination": [
						"obj-192",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-191",
						1
					],
					"destination": [
						"obj-192",
						1
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-189",
						0
					],
					"destination": [
						"obj-192",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-189",
						0
					],
					"destination": [
						"obj-192",
						1
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-181",
						0
					],
					"destination": [
						"obj-194",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-195",
						0
					],
					"destination": [
						"obj-194",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-194",
						0
					],
					"destination": [
						"obj-196",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-198",
						0
					],
					"destination": [
						"obj-199",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-199",
						0
					],
					"destination": [
						"obj-202",
						1
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-200",
						0
					],
					"destination": [
						"obj-201",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-201",
						0
					],
					"destination": [
						"obj-202",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-202",
						0
					],
					"destination": [
						"obj-203",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-208",
						0
					],
					"destination": [
						"obj-209",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-209",
						0
					],
					"destination": [
						"obj-210",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-210",
						0
					],
					"destination": [
						"obj-211",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-211",
						0
					],
					"destination": [
						"obj-212",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-211",
						1
					],
					"destination": [
						"obj-213",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-213",
						0
					],
					"destination": [
						"obj-215",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-217",
						0
					],
					"destination": [
						"obj-218",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-219",
						0
					],
					"destination": [
						"obj-220",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-220",
						0
					],
					"destination": [
						"obj-218",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-218",
						0
					],
					"destination": [
						"obj-210",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-221",
						0
					],
					"destination": [
						"obj-57",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-57",
						5
					],
					"destination": [
						"obj-222",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-222",
						0
					],
					"destination": [
						"obj-58",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-224",
						0
					],
					"destination": [
						"obj-225",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-225",
						0
					],
					"destination": [
						"obj-78",
						6
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-82",
						5
					],
					"destination": [
						"obj-226",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-226",
						0
					],
					"destination": [
						"obj-88",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-227",
						2
					],
					"destination": [
						"obj-167",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-227",
						0
					],
					"destination": [
						"obj-228",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-228",
						0
					],
					"destination": [
						"obj-230",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-227",
						1
					],
					"destination": [
						"obj-235",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-235",
						0
					],
					"destination": [
						"obj-234",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-229",
						0
					],
					"destination": [
						"obj-231",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-231",
						1
					],
					"destination": [
						"obj-232",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-232",
						0
					],
					"destination": [
						"obj-230",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-231",
						0
					],
					"destination": [
						"obj-125",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-230",
						1
					],
					"destination": [
						"obj-233",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-233",
						0
					],
					"destination": [
						"obj-234",
						0
					]
				}
			}
		]
	}
}
