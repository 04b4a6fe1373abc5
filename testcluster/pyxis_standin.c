/*
 * A stand-in for NVIDIA Pyxis on the hpcbridge test cluster. It registers the same option names and
 * argument forms as Pyxis, so real sbatch/srun accept hpcbridge's --container-* directives, and exports
 * each value into the job as PYXIS_<OPTION> (e.g. PYXIS_CONTAINER_IMAGE) so tests can see them arrive.
 * It does NOT run containers: it proves the options are accepted and delivered, nothing more.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <slurm/spank.h>

SPANK_PLUGIN(pyxis, 1);

#define NOPTS 11
static char *values[NOPTS];
static const char *envnames[NOPTS] = {
    "PYXIS_CONTAINER_IMAGE", "PYXIS_CONTAINER_MOUNTS", "PYXIS_CONTAINER_WORKDIR", "PYXIS_CONTAINER_ENV",
    "PYXIS_CONTAINER_NAME", "PYXIS_CONTAINER_MOUNT_HOME", "PYXIS_NO_CONTAINER_MOUNT_HOME",
    "PYXIS_CONTAINER_REMAP_ROOT", "PYXIS_NO_CONTAINER_REMAP_ROOT", "PYXIS_CONTAINER_WRITABLE",
    "PYXIS_CONTAINER_SAVE"};

static int remember(int val, const char *optarg, int remote)
{
    if (val < 0 || val >= NOPTS)
        return -1;
    free(values[val]);
    values[val] = strdup(optarg && *optarg ? optarg : "1");
    return 0;
}

static struct spank_option options[NOPTS] = {
    {"container-image", "[USER@][REGISTRY#]IMAGE[:TAG]|PATH", "[pyxis stand-in] image", 1, 0, remember},
    {"container-mounts", "SRC:DST[:FLAGS][,SRC:DST...]", "[pyxis stand-in] bind mounts", 1, 1, remember},
    {"container-workdir", "PATH", "[pyxis stand-in] working directory", 1, 2, remember},
    {"container-env", "NAME[,NAME...]", "[pyxis stand-in] environment", 1, 3, remember},
    {"container-name", "NAME[:FLAG]", "[pyxis stand-in] container name", 1, 4, remember},
    {"container-mount-home", NULL, "[pyxis stand-in] mount home", 0, 5, remember},
    {"no-container-mount-home", NULL, "[pyxis stand-in] do not mount home", 0, 6, remember},
    {"container-remap-root", NULL, "[pyxis stand-in] remap root", 0, 7, remember},
    {"no-container-remap-root", NULL, "[pyxis stand-in] do not remap root", 0, 8, remember},
    {"container-writable", NULL, "[pyxis stand-in] writable", 0, 9, remember},
    {"container-save", "PATH", "[pyxis stand-in] save", 1, 10, remember},
};

int slurm_spank_init(spank_t sp, int ac, char **av)
{
    /* As Pyxis with `sbatch_support=0` in plugstack.conf: sbatch and salloc (the allocator context) do not
       know the options, srun and the steps do. */
    for (int i = 0; i < ac; i++)
        if (strcmp(av[i], "sbatch_support=0") == 0 && spank_context() == S_CTX_ALLOCATOR)
            return 0;
    /* Registered here, not through a static spank_options table: sbatch only sees options registered
       with spank_option_register() (../shared/notes/slurm-in-a-box.md). */
    for (int i = 0; i < NOPTS; i++)
        if (spank_option_register(sp, &options[i]) != ESPANK_SUCCESS)
            return -1;
    return 0;
}

int slurm_spank_user_init(spank_t sp, int ac, char **av)
{
    for (int i = 0; i < NOPTS; i++)
        if (values[i])
            spank_setenv(sp, envnames[i], values[i], 1);
    return 0;
}
