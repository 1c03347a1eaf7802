// SPDX-License-Identifier: GPL-2.0
/*
 * The differential reference of tests/libbpf_differential.rs: what libbpf (Debian's
 * libbpf-dev) does with each program of an object, on this kernel.
 *
 * usage: libbpf_loadall [--btf PATH] OBJECT
 *        libbpf_loadall --together OBJECT NAME...
 *
 * For each program of OBJECT, in the object's order: open the object afresh, turn
 * autoload off for every other program, load (maps, BTF, CO-RE against the running
 * kernel's BTF, the program), and print one line:
 *   NAME<TAB>loaded<TAB>TAG        the kernel's tag (bpf_prog_info.tag, 16 hex digits)
 *   NAME<TAB>refused<TAB>ERRNO     the error bpf_object__load returned
 * An object libbpf cannot open prints "open<TAB>failed<TAB>ERRNO" and exits 2.
 * --btf PATH: PATH is the target of CO-RE (bpf_object_open_opts.btf_custom_path), as
 * `ebpf-loader load --btf PATH` takes it.
 * libbpf's own messages go to stderr.
 *
 * --together (scripts/bench/corpus-load.sh): open the object once and load the programs
 * NAME... in one bpf_object__load, the others' autoload off, as a tool loads its object;
 * prints the same lines, or "together<TAB>refused<TAB>ERRNO" when the load fails.
 *
 * Built by the test with the system's cc and libbpf; never linked into the tool.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

static void print_loaded(struct bpf_program *prog)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);
	int err;

	memset(&info, 0, sizeof(info));
	err = bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len);
	if (err) {
		printf("%s\trefused\t%d\n", bpf_program__name(prog), -err);
		return;
	}
	printf("%s\tloaded\t", bpf_program__name(prog));
	for (int b = 0; b < 8; b++)
		printf("%02x", info.tag[b]);
	printf("\n");
}

static int together(const char *path, int count, char **names)
{
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	struct bpf_program *prog;
	int err;

	if (!obj) {
		printf("open\tfailed\t%d\n", errno);
		return 2;
	}
	bpf_object__for_each_program(prog, obj) {
		bool wanted = false;

		for (int i = 0; i < count; i++)
			wanted = wanted || strcmp(bpf_program__name(prog), names[i]) == 0;
		bpf_program__set_autoload(prog, wanted);
	}
	err = bpf_object__load(obj);
	if (err) {
		printf("together\trefused\t%d\n", -err);
		bpf_object__close(obj);
		return 1;
	}
	bpf_object__for_each_program(prog, obj)
		if (bpf_program__autoload(prog))
			print_loaded(prog);
	bpf_object__close(obj);
	return 0;
}

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_object_open_opts, open_opts);
	struct bpf_object *obj;
	struct bpf_program *prog;
	char names[1024][64];
	int count = 0;

	if (argc >= 3 && strcmp(argv[1], "--together") == 0)
		return together(argv[2], argc - 3, argv + 3);
	if (argc == 4 && strcmp(argv[1], "--btf") == 0) {
		open_opts.btf_custom_path = argv[2];
		argv += 2;
		argc -= 2;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: %s [--btf PATH] OBJECT | --together OBJECT NAME...\n",
			argv[0]);
		return 1;
	}
	obj = bpf_object__open_file(argv[1], &open_opts);
	if (!obj) {
		printf("open\tfailed\t%d\n", errno);
		return 2;
	}
	bpf_object__for_each_program(prog, obj) {
		if (count < 1024) {
			snprintf(names[count], sizeof(names[count]), "%s", bpf_program__name(prog));
			count++;
		}
	}
	bpf_object__close(obj);

	for (int i = 0; i < count; i++) {
		struct bpf_prog_info info;
		__u32 len = sizeof(info);
		int err;

		obj = bpf_object__open_file(argv[1], &open_opts);
		if (!obj) {
			printf("open\tfailed\t%d\n", errno);
			return 2;
		}
		bpf_object__for_each_program(prog, obj)
			bpf_program__set_autoload(prog, strcmp(bpf_program__name(prog), names[i]) == 0);
		err = bpf_object__load(obj);
		if (err) {
			printf("%s\trefused\t%d\n", names[i], -err);
			bpf_object__close(obj);
			continue;
		}
		prog = bpf_object__find_program_by_name(obj, names[i]);
		memset(&info, 0, sizeof(info));
		err = bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len);
		if (err) {
			printf("%s\trefused\t%d\n", names[i], -err);
		} else {
			printf("%s\tloaded\t", names[i]);
			for (int b = 0; b < 8; b++)
				printf("%02x", info.tag[b]);
			printf("\n");
		}
		bpf_object__close(obj);
	}
	return 0;
}
